"""Vector stores: the ``Store`` protocol, its backends and ``make_store``.

Every backend here ``supports_keyword_search`` (BM25): pgvector in its own tables, Chroma,
Qdrant and memory with a sidecar they own (``rag.stores.bm25_sidecar``).

``import rag.stores`` is cheap: the backends (and chromadb, psycopg, qdrant_client) load only
when a class is first used (``rag.stores.ChromaStore``) or built by ``make_store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError
from rag.stores.base import (
    AsyncQueryStore,
    DuplicatePolicy,
    Filters,
    KeywordSearchStore,
    SourceRecord,
    Store,
    async_queries,
    keyword_search,
)

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.stores.chroma import ChromaStore
    from rag.stores.memory import MemoryStore
    from rag.stores.qdrant import QdrantStore

__all__ = [
    "AsyncQueryStore",
    "ChromaStore",
    "DuplicatePolicy",
    "Filters",
    "KeywordSearchStore",
    "MemoryStore",
    "QdrantStore",
    "SourceRecord",
    "Store",
    "async_queries",
    "keyword_search",
    "make_store",
]

_LAZY = {
    "ChromaStore": "rag.stores.chroma",
    "MemoryStore": "rag.stores.memory",
    "QdrantStore": "rag.stores.qdrant",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rag.stores' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def make_store(settings: Settings) -> Store:
    """Build the store named by ``settings.store`` (``chroma``, ``memory``, ``pgvector`` or
    ``qdrant``)."""
    if settings.store == "chroma":
        from rag.stores.chroma import ChromaStore

        return ChromaStore(
            settings.collection,
            path=settings.chroma_path,
            url=settings.chroma_url,
            keyword_dir=settings.data_dir / "keyword",
        )
    if settings.store == "memory":
        from rag.stores.memory import MemoryStore

        return MemoryStore(settings.collection)
    if settings.store == "pgvector":
        try:
            from rag.stores.pgvector import PgVectorStore
        except ModuleNotFoundError as exc:
            if exc.name not in ("rag.stores.pgvector", "stores.pgvector"):
                raise
            raise ConfigError(
                "setting 'store' is 'pgvector' but pgvector support is not installed in this "
                "version of rag; use store = 'chroma' or 'memory'"
            ) from None
        store: Store = PgVectorStore.from_settings(settings)
        return store
    if settings.store == "qdrant":
        from rag.stores.qdrant import QdrantStore, server_keyword_dir

        key = settings.qdrant_api_key
        if settings.qdrant_url:
            return QdrantStore(
                settings.collection,
                url=settings.qdrant_url,
                api_key=key.get_secret_value() if key is not None else None,
                keyword_dir=server_keyword_dir(settings.data_dir, settings.qdrant_url),
            )
        return QdrantStore(
            settings.collection, path=settings.qdrant_path or settings.data_dir / "qdrant"
        )
    raise ConfigError(
        f"setting 'store' has unknown value {settings.store!r}; use 'chroma', 'memory', "
        "'pgvector' or 'qdrant'"
    )
