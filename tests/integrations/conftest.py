"""The standard suites of LangChain (``langchain-tests``) define async tests without a marker:
they are run here with pytest-asyncio, and only here (the rest of the suite keeps
pytest-asyncio's strict mode, where an unmarked coroutine is not run)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Mark the coroutine tests collected under tests/integrations with ``asyncio`` before
    pytest-asyncio looks for the mark (it wraps this hook)."""
    if not (inspect.iscoroutinefunction(obj) and name.startswith("test")):
        return
    if Path(str(collector.path)).resolve().parent == HERE:
        pytest.mark.asyncio(obj)
