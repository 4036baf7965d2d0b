"""Import heavy or optional dependencies on first use, with an install hint when missing."""

from __future__ import annotations

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
