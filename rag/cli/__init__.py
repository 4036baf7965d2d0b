"""The ``rag`` command line: one module per command, shared options in ``options``, and one
table of exit codes in ``exit_codes`` (0 ok; 1 partial failure; 2 usage error; 70 internal
error, whose traceback ``rag --debug`` or ``RAG_DEBUG=1`` shows).

Rich markup and emoji codes are off for help and messages, so ``[...]`` and ``:x:`` in them
print as written. Heavy dependencies load inside the commands, so ``rag --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from rag.cli import ask, chat, config, costs, db, ingest, serve
from rag.cli import eval as eval_command
from rag.cli.exit_codes import RootGroup

__all__ = ["app", "main", "option_names"]

app = typer.Typer(
    name="rag",
    help="Retrieval-augmented generation, offline by default: ingest documents, ask questions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=RootGroup,
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Print the traceback of an error (also RAG_DEBUG=1); for bug reports.",
        ),
    ] = False,
) -> None:
    """Options for every command (read by ``rag.cli.exit_codes.debug_enabled``)."""


app.command("ingest")(ingest.ingest)
app.command("ask")(ask.ask)
app.command("chat")(chat.chat)
app.command("config")(config.show_config)
app.add_typer(db.app)
costs.register(app)
app.command("eval")(eval_command.eval_)
app.add_typer(serve.app)


def main() -> None:
    """Console-script entry point. The one place rag sets environment variables: offline by
    default (transformers and huggingface_hub never reach for a hub; models load from local
    paths), and no tokenizers fork warnings."""
    import os

    for key, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(key, value)
    app()


def option_names() -> set[str]:
    """Every option name (long, short and negative forms) of every command: what a message or a
    setting's hint may name (tests check that they do not name others)."""
    import typer.main

    def walk(cmd: object) -> set[str]:
        found: set[str] = set()
        for param in getattr(cmd, "params", []):
            if param.param_type_name == "option":
                found |= {*param.opts, *param.secondary_opts}
        for sub in getattr(cmd, "commands", {}).values():
            found |= walk(sub)
        return found

    return walk(typer.main.get_command(app))
