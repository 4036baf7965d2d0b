"""rag's exceptions. Every message names the file, field or setting at fault and the fix.

Tree::

    RagError
    ├── ConfigError            a setting has a wrong value or names something missing (exit 2)
    │   ├── MissingDependencyError   an optional extra is not installed
    │   └── EmbedderMismatchError    the collection was embedded by another model
    ├── LoadError              one file could not be read or decoded (the ingest goes on)
    │   └── PartialLoadError         part of a file loaded: ``documents`` did, ``failed`` did not
    ├── StoreError             the vector store failed or refused an operation
    │   ├── CollectionNotFoundError  asked a collection that does not exist or is empty
    │   └── DimensionMismatchError   vectors of another size than the collection holds
    └── LLMError               generation failed (``logged``: the call log has its row already)
        ├── ContextWindowError     the prompt does not fit the model's window
        ├── BudgetExceededError    the routing budget refused the call
        └── BackendError           the backend (local or hosted) raised or answered an error
            └── HostedBackendError   a hosted API failed (``status_code``, ``retry_after``, ...)

Per-call facts travel in the fields declared here (``LLMError.logged``, ``BackendError.kind``,
``HostedBackendError.request_id``, ...), never in attributes patched onto an exception later.

Warnings (``warnings.warn`` categories, not errors)::

    UserWarning
    └── EmbedderMismatchWarning   the collection was embedded by another backend or
                                  quantization of the same model
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.types import Document


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


class PartialLoadError(LoadError):
    """Some of a file loaded and some did not (bad JSONL lines, unreadable PDF pages).

    ``documents`` holds what did load; ``failed`` names what did not (line or page
    numbers, as strings). The ingest pipeline should ingest ``documents`` and report the
    message, which lists the failures and the fix, as a failure of the file. A streaming
    loader (``iter_load``) raises it after its last Document with ``documents`` empty: the
    good ones were yielded already.
    """

    def __init__(
        self, path: str, message: str, *, documents: list[Document], failed: list[str]
    ) -> None:
        super().__init__(path, message)
        self.documents = documents
        self.failed = failed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_partial, (self.path, self.reason, self.documents, self.failed))


def _rebuild_partial(
    path: str, message: str, documents: list[Document], failed: list[str]
) -> PartialLoadError:
    return PartialLoadError(path, message, documents=documents, failed=failed)


class StoreError(RagError):
    """The vector store failed or refused an operation."""


class CollectionNotFoundError(StoreError):
    """The collection does not exist or holds no chunks."""


class DimensionMismatchError(StoreError):
    """Vectors of a different dimension than the collection was created with."""


class LLMError(RagError):
    """Generation failed."""

    logged: bool
    """True when the call log already holds this failure's row (the router logs every failed
    attempt), so whoever catches it must not log it again."""

    def __init__(self, message: str, *, logged: bool = False) -> None:
        super().__init__(message)
        self.logged = logged


class ContextWindowError(LLMError):
    """The prompt is larger than the model's context window."""


class BudgetExceededError(LLMError):
    """A call's estimated cost exceeds the routing budget and the policy says refuse."""

    kind = "budget"


class BackendError(LLMError):
    """A backend raised or returned an error. ``kind`` classifies it (timeout, rate_limit, ...);
    ``retryable`` says whether another try of the same backend may succeed."""

    def __init__(
        self, message: str, *, kind: str = "error", retryable: bool = False, logged: bool = False
    ) -> None:
        super().__init__(message, logged=logged)
        self.kind = kind
        self.retryable = retryable


class HostedBackendError(BackendError):
    """A hosted call failed. Adds what routing needs: ``retry_after`` (seconds the provider asked
    to wait, or None), the HTTP ``status_code`` and the provider's ``request_id``."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "error",
        retryable: bool = False,
        retry_after: float | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        logged: bool = False,
    ) -> None:
        super().__init__(message, kind=kind, retryable=retryable, logged=logged)
        self.retry_after = retry_after
        self.status_code = status_code
        self.request_id = request_id
