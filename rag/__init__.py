"""rag: retrieval-augmented generation that does the whole job, offline by default.

The curated public API; everything not listed in ``__all__`` may change.
Importing ``rag`` is cheap: torch, chromadb and llama.cpp load on first use.
"""

from typing import TYPE_CHECKING, Any

from rag.errors import (
    BackendError,
    BudgetExceededError,
    CollectionNotFoundError,
    ConfigError,
    ContextWindowError,
    DimensionMismatchError,
    EmbedderMismatchError,
    EmbedderMismatchWarning,
    HostedBackendError,
    LLMError,
    LoadError,
    MissingDependencyError,
    PartialLoadError,
    RagError,
    StoreError,
)

if TYPE_CHECKING:
    from rag.aio import AsyncRAG
    from rag.api import RAG
    from rag.config import Settings, load_settings
    from rag.types import (
        Answer,
        AskFailure,
        Chunk,
        Citation,
        Document,
        FileFailure,
        FileWarning,
        IngestReport,
        Location,
        Retrieval,
        ScoredChunk,
        Usage,
    )

# loaded on first access, so `import rag` (and `rag --help`) stays cheap
_LAZY = {
    "RAG": "rag.api",
    "AsyncRAG": "rag.aio",
    "Settings": "rag.config",
    "load_settings": "rag.config",
    **{
        name: "rag.types"
        for name in (
            "Answer",
            "AskFailure",
            "Chunk",
            "Citation",
            "Document",
            "FileFailure",
            "FileWarning",
            "IngestReport",
            "Location",
            "Retrieval",
            "ScoredChunk",
            "Usage",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "RAG",
    "Answer",
    "AskFailure",
    "AsyncRAG",
    "BackendError",
    "BudgetExceededError",
    "Chunk",
    "Citation",
    "CollectionNotFoundError",
    "ConfigError",
    "ContextWindowError",
    "DimensionMismatchError",
    "Document",
    "EmbedderMismatchError",
    "EmbedderMismatchWarning",
    "FileFailure",
    "FileWarning",
    "HostedBackendError",
    "IngestReport",
    "LLMError",
    "LoadError",
    "Location",
    "MissingDependencyError",
    "PartialLoadError",
    "RagError",
    "Retrieval",
    "ScoredChunk",
    "Settings",
    "StoreError",
    "Usage",
    "__version__",
    "load_settings",
]
