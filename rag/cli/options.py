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
    str | None, typer.Option("--store", help="chroma (default), pgvector, qdrant or memory.")
]
DsnOpt = Annotated[str | None, typer.Option("--dsn", help="PostgreSQL DSN for --store pgvector.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [default: $XDG_DATA_HOME/rag]."),
]

# scaling out (issue #14)
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="local (this process, default) or ray (load, chunk and embed on a Ray cluster).",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster for --engine ray: auto, ray://host:10001 or host:6379 "
        "[default: a running local one, else one started for the run].",
    ),
]

# Qdrant store (issue #16)
QdrantPathOpt = Annotated[
    Path | None,
    typer.Option(
        "--qdrant-path",
        help="Local Qdrant directory for --store qdrant [default: DATA_DIR/qdrant].",
    ),
]
QdrantUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--qdrant-url", help="Qdrant server URL for --store qdrant (key: RAG_QDRANT_API_KEY)."
    ),
]

# issue 15 (helper "lora"): a LoRA adapter on the local model, wherever --llm is accepted
LoraOpt = Annotated[
    Path | None,
    typer.Option(
        "--lora",
        help="LoRA adapter GGUF for the local model (converted for that base model).",
    ),
]
LoraScaleOpt = Annotated[
    float | None,
    typer.Option(
        "--lora-scale", help="How strongly the adapter applies: 0 = base model, 1 = full."
    ),
]

EmbedOpt = Annotated[
    str | None,
    typer.Option(
        "--embed",
        help="Embedder: local (default), openai:MODEL or openai-compatible:URL#MODEL.",
    ),
]
