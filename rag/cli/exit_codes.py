"""The one table from rag's exceptions to the command line's exit codes, used by every command.

As the README says: 0 ok; 1 partial failure (some files failed, or generation failed);
2 usage error (bad option or setting, missing path, empty or missing collection).
Click's own usage errors (an unknown option, a bad value) exit 2 as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from rag.errors import CollectionNotFoundError, ConfigError, RagError

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_USAGE),  # a bad option or setting, a missing path or optional extra
    (CollectionNotFoundError, EXIT_USAGE),  # the collection is missing or empty
    (RagError, EXIT_PARTIAL),  # a file, the store or the generation failed
    (KeyboardInterrupt, EXIT_INTERRUPTED),
)
"""First match wins, so a subclass is listed before its base."""

INTERRUPTED = "interrupted; re-run the same command to finish (nothing is duplicated)"


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code for ``exc``, or None when it is not one of rag's (a bug: let it raise)."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return None


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn rag's errors into ``error: message`` on stderr and the exit code from the table."""
    from rag.cli.output import print_error, stderr

    try:
        yield
    except (RagError, KeyboardInterrupt) as exc:
        code = exit_code_for(exc)
        if code is None:  # pragma: no cover - every RagError and interrupt is in the table
            raise
        if isinstance(exc, KeyboardInterrupt):
            stderr().print(INTERRUPTED)
        else:
            from rag.redact import redact

            print_error(redact(str(exc)))
        raise typer.Exit(code) from None
