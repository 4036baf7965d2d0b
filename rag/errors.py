"""rag's exceptions. Every message names the file, field or setting at fault and the fix.

Tree::

    RagError
    ├── ConfigError            a setting has a wrong value or names something missing (exit 2)
    │   ├── MissingDependencyError   an optional extra is not installed
    │   └── EmbedderMismatchError    the collection was embedded by another model
    ├── LoadError              one file could not be read or decoded (the ingest goes on)
    ├── StoreError             the vector store failed or refused an operation
    │   ├── CollectionNotFoundError  asked a collection that does not exist or is empty
    │   └── DimensionMismatchError   vectors of another size than the collection holds
    └── LLMError               generation failed
        ├── ContextWindowError     the prompt does not fit the model's window
        └── BackendError           the backend (local or hosted) raised or answered an error
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error rag raises on purpose."""


class ConfigError(RagError):
    """A configuration value is wrong or refers to something that does not exist."""


class MissingDependencyError(ConfigError):
    """An optional dependency is not installed; the message gives the pip extra."""


class EmbedderMismatchError(ConfigError):
    """The collection's vectors come from another embedding model than the one configured:
    their similarities to this model's vectors mean nothing."""


class EmbedderMismatchWarning(UserWarning):
    """The collection's vectors come from the same model run by another backend or
    quantization: close (cosine about 0.99) but not equal, so retrieval degrades a little."""


class LoadError(RagError):
    """A file could not be loaded. ``path`` names it; the message says what to do."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class StoreError(RagError):
    """The vector store failed or refused an operation."""


class CollectionNotFoundError(StoreError):
    """The collection does not exist or holds no chunks."""


class DimensionMismatchError(StoreError):
    """Vectors of a different dimension than the collection was created with."""


class LLMError(RagError):
    """Generation failed."""


class ContextWindowError(LLMError):
    """The prompt is larger than the model's context window."""


class BackendError(LLMError):
    """A backend raised or returned an error. ``kind`` classifies it (timeout, rate_limit, ...)."""

    def __init__(self, message: str, *, kind: str = "error", retryable: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
