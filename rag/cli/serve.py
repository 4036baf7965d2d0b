"""``rag serve``: rag behind an HTTP API (``rag.server``), and ``rag serve keys add NAME``.

FastAPI and uvicorn load only inside the commands, so ``rag --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.exit_codes import handle_errors
from rag.cli.options import ConfigOpt, DataDirOpt

app = typer.Typer(
    name="serve",
    help="Serve collections over HTTP (native API, OpenAI-compatible facade, a web page).",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)
keys = typer.Typer(name="keys", help="API keys of the server's tenants.", no_args_is_help=True)
app.add_typer(keys)


@app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [default: 8000].")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes [default: 1].")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Serve the settings' collections until Ctrl-C or SIGTERM (which drain running requests)."""
    if ctx.invoked_subcommand is not None:
        return
    import os

    from rag.cli.output import stderr

    with handle_errors():
        from rag.config import load_settings
        from rag.server.serve import check_bind, run

        settings = load_settings(config, data_dir=data_dir)
        server = settings.server
        bind = host or server.host
        check_bind(settings, bind)
        console = stderr()
        if not server.tenants:
            console.print(
                f"no tenants configured: serving {bind} only (loopback), no API key needed. "
                "Add one with `rag serve keys add NAME`."
            )
        if config is not None:  # worker processes read the same file
            os.environ["RAG_CONFIG"] = str(config)
        if data_dir is not None:
            os.environ["RAG_DATA_DIR"] = str(data_dir)
        run(
            settings,
            host=bind,
            port=server.port if port is None else port,
            workers=workers or server.workers,
        )


@keys.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Tenant name (created when new).")],
    config: ConfigOpt = None,
) -> None:
    """Create an API key for tenant NAME: print it once, store only its SHA-256 in rag.toml."""
    import os

    from rag.config import load_settings
    from rag.server.keys import add_key

    path = config or Path(os.environ.get("RAG_CONFIG") or "rag.toml")
    with handle_errors():
        load_settings(path if path.exists() else None)  # refuse to edit an invalid file
        key = add_key(path, name)
    typer.echo(key)
    from rag.cli.output import stderr

    stderr().print(
        f"key for tenant '{name}' stored as its SHA-256 in {path}; it is shown only this once. "
        "Restart `rag serve` to use it."
    )
