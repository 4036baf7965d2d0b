"""rag's exception tree: one module, drawn in its docstring, per-call facts in declared fields."""

from __future__ import annotations

import inspect
import pickle

import pytest

import rag
import rag.errors
from rag.errors import (
    BackendError,
    BudgetExceededError,
    ContextWindowError,
    HostedBackendError,
    LLMError,
    PartialLoadError,
    RagError,
)
from rag.types import Document

ERRORS = [
    cls
    for _, cls in inspect.getmembers(rag.errors, inspect.isclass)
    if issubclass(cls, Exception)
    and not issubclass(cls, Warning)
    and cls.__module__ == "rag.errors"
]
WARNINGS = [
    cls
    for _, cls in inspect.getmembers(rag.errors, inspect.isclass)
    if issubclass(cls, Warning) and cls.__module__ == "rag.errors"
]


@pytest.mark.parametrize("cls", WARNINGS, ids=lambda c: c.__name__)
def test_every_warning_is_listed_and_exported(cls: type[Warning]) -> None:
    """If this fails, a warning category was added to rag/errors.py without its line under
    "Warnings" in the module docstring, or missing from ``rag.__all__``."""
    doc = rag.errors.__doc__ or ""
    assert doc.index("Warnings") < doc.index(cls.__name__)
    assert cls.__name__ in rag.__all__


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_in_the_drawn_tree_and_exported(cls: type[Exception]) -> None:
    """If this fails, an exception was added to rag/errors.py without its line in the module
    docstring's tree, outside RagError, or missing from ``rag.__all__``."""
    doc = rag.errors.__doc__ or ""
    assert issubclass(cls, RagError)
    assert f"── {cls.__name__}" in doc or cls is RagError, f"draw {cls.__name__} in the tree"
    parent = cls.__mro__[1]
    if cls is not RagError:
        assert doc.index(parent.__name__) < doc.index(f"── {cls.__name__}"), "drawn under its base"
    assert cls.__name__ in rag.__all__


@pytest.mark.parametrize(
    "make",
    [
        lambda logged: LLMError("x", logged=logged),
        lambda logged: ContextWindowError("x", logged=logged),
        lambda logged: BudgetExceededError("x", logged=logged),
        lambda logged: BackendError("x", kind="timeout", retryable=True, logged=logged),
        lambda logged: HostedBackendError("x", kind="rate_limit", retryable=True, logged=logged),
    ],
)
def test_logged_is_a_declared_field(make: object) -> None:
    """If this fails, ``LLMError.logged`` is no longer set through the constructor (False by
    default): the query pipeline reads it to avoid logging a failure the router logged."""
    assert make(False).logged is False  # type: ignore[operator]
    assert make(True).logged is True  # type: ignore[operator]
    assert LLMError("x").logged is False


def test_errors_survive_pickling() -> None:
    """If this fails, an error lost its fields crossing a process boundary (ingest workers,
    ``concurrent.futures``): check ``__reduce__`` or the constructor's defaults."""
    err = HostedBackendError(
        "x", kind="rate_limit", retryable=True, retry_after=2.0, status_code=429, logged=True
    )
    back = pickle.loads(pickle.dumps(err))
    assert (back.kind, back.retryable, back.retry_after, back.status_code, back.logged) == (
        "rate_limit",
        True,
        2.0,
        429,
        True,
    )
    part = PartialLoadError(
        "a.jsonl",
        "lines 3-4 are not JSON",
        documents=[Document(text="t", source="a")],
        failed=["3"],
    )
    back_part = pickle.loads(pickle.dumps(part))
    assert (back_part.path, back_part.failed, back_part.documents) == (
        "a.jsonl",
        ["3"],
        part.documents,
    )
