"""The one table from rag's exceptions to the command line's exit codes, used by every command.

As the README says: 0 ok; 1 partial failure (some files failed, or generation failed);
2 usage error (bad option or setting, missing path, empty or missing collection);
70 internal error (a bug in rag: any exception that is not a ``RagError``; ``--debug`` or
``RAG_DEBUG=1`` prints its traceback); 130 interrupted.
Click's own usage errors (an unknown option, a bad value) exit 2 as well.

No traceback reaches the user unless they ask for it: ``handle_errors`` turns rag's errors
into ``error: message`` inside each command, and ``RootGroup`` (the ``rag`` group's class)
catches whatever escapes a command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import typer
from typer import _click as click  # the click typer runs on (vendored): its exceptions
from typer.core import TyperGroup

from rag.errors import CollectionNotFoundError, ConfigError, RagError

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug in rag, not in the input
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_USAGE),  # a bad option or setting, a missing path or optional extra
    (CollectionNotFoundError, EXIT_USAGE),  # the collection is missing or empty
    (RagError, EXIT_PARTIAL),  # a file, the store or the generation failed
    (KeyboardInterrupt, EXIT_INTERRUPTED),
)
"""First match wins, so a subclass is listed before its base."""

INTERRUPTED = "interrupted; re-run the same command to finish (nothing is duplicated)"
DEBUG_HINT = "re-run with --debug (or RAG_DEBUG=1) to see the traceback, and please report it"

_PASS_THROUGH = (click.exceptions.ClickException, typer.Exit, typer.Abort)
"""Exceptions that are click's own way to end a command: never an internal error."""


_DEBUG: ContextVar[bool] = ContextVar("rag_cli_debug", default=False)
"""``rag --debug`` for the command running (set by ``RootGroup.invoke``)."""


def debug_enabled() -> bool:
    """Whether tracebacks are shown: ``rag --debug ...`` or ``RAG_DEBUG`` set (not 0/false)."""
    if os.environ.get("RAG_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off"):
        return True
    return _DEBUG.get()


def _print_traceback(exc: BaseException) -> None:
    import traceback

    from rag.redact import redact

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    from rag.cli.output import stderr

    stderr().print(redact(text), end="")


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

            if debug_enabled():
                _print_traceback(exc)
            print_error(redact(str(exc)))
        raise typer.Exit(code) from None


def internal_error(exc: BaseException) -> int:
    """Report an exception that escaped a command; return its exit code. A ``RagError`` or an
    interrupt gets its code from the table; anything else is a bug in rag: ``error:`` with
    its type and message, the hint to re-run with ``--debug``, and ``EXIT_INTERNAL``."""
    from rag.cli.output import print_error, stderr
    from rag.redact import redact

    code = exit_code_for(exc)
    if isinstance(exc, KeyboardInterrupt):
        stderr().print(INTERRUPTED)
        return EXIT_INTERRUPTED
    debug = debug_enabled()
    if debug:
        _print_traceback(exc)
    if code is not None:
        print_error(redact(str(exc)))
        return code
    detail = redact(str(exc)) or "(no message)"
    hint = "" if debug else f"; {DEBUG_HINT}"
    print_error(f"internal error ({type(exc).__name__}: {detail}){hint}")
    return EXIT_INTERNAL


class RootGroup(TyperGroup):
    """The ``rag`` group: whatever a command lets escape becomes ``error: ...`` and an exit
    code (``internal_error``), never a traceback (unless ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        token = _DEBUG.set(bool(ctx.params.get("debug")))
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except BrokenPipeError:
            raise  # click's main quiets a closed pipe (``rag ask ... | head``)
        except (Exception, KeyboardInterrupt) as exc:
            raise typer.Exit(internal_error(exc)) from None
        finally:
            _DEBUG.reset(token)
