"""Building the ``RAG`` a command runs on, from its flags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.api import RAG


def make_rag(config: Path | None, **overrides: Any) -> RAG:
    """Settings from flags > env > rag.toml > defaults. With ``--store pgvector`` and no DSN,
    the store itself falls back to the ``rag db start`` server of the data directory."""
    from rag.api import RAG
    from rag.config import load_settings

    return RAG(load_settings(config, **overrides))
