"""Options several commands share, declared once: where settings come from and where data lives.

Each is an ``Annotated`` type a command uses as a parameter annotation; its default (``None``)
means "not given on the command line", so env, rag.toml and the defaults apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (default ./rag.toml).")
]
CollectionOpt = Annotated[
    str | None, typer.Option("--collection", help="Collection name [default: default].")
]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="chroma (default), pgvector or memory.")
]
DsnOpt = Annotated[str | None, typer.Option("--dsn", help="PostgreSQL DSN for --store pgvector.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [default: $XDG_DATA_HOME/rag]."),
]
EmbedOpt = Annotated[
    str | None,
    typer.Option(
        "--embed",
        help="Embedder: local (default), openai:MODEL or openai-compatible:URL#MODEL.",
    ),
]
