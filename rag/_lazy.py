"""Import heavy or optional dependencies on first use, with an install hint when missing."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from rag.errors import MissingDependencyError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise a MissingDependencyError that names the pip extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{module.split('.')[0]}', which is not installed "
            f"({exc}). Install it with: pip install 'rag[{extra}]'"
        ) from exc


@functools.cache
def package_version(distribution: str) -> str:
    """The installed version of ``distribution`` without importing it ("none" if absent);
    read once per process (embedder identities and cache keys ask on every build)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "none"


def quiet_transformers() -> None:
    """No weight-loading progress bars or tokenizer length warnings from transformers on the
    user's terminal (the sentence-transformers embedder and the cross-encoder both load it)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass
