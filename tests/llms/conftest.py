"""Hosted-backend tests: SDK clients made with ``llm_server.track`` are closed after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_server import close_tracked


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_tracked()
