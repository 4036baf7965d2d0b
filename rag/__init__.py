"""rag: retrieval-augmented generation that does the whole job, offline by default.

The curated public API; everything not listed in ``__all__`` may change.
Importing ``rag`` is cheap: torch, chromadb and llama.cpp load on first use.
"""

from rag.api import RAG
from rag.config import Settings, load_settings
from rag.errors import (
    BackendError,
    CollectionNotFoundError,
    ConfigError,
    ContextWindowError,
    DimensionMismatchError,
    LLMError,
    LoadError,
    MissingDependencyError,
    RagError,
    StoreError,
)
from rag.types import (
    Answer,
    Chunk,
    Citation,
    Document,
    FileFailure,
    IngestReport,
    Location,
    ScoredChunk,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "RAG",
    "Answer",
    "BackendError",
    "Chunk",
    "Citation",
    "CollectionNotFoundError",
    "ConfigError",
    "ContextWindowError",
    "DimensionMismatchError",
    "Document",
    "FileFailure",
    "IngestReport",
    "LLMError",
    "LoadError",
    "Location",
    "MissingDependencyError",
    "RagError",
    "ScoredChunk",
    "Settings",
    "StoreError",
    "Usage",
    "__version__",
    "load_settings",
]
