"""Server-Sent Events framing: ``event: <name>`` and one ``data:`` line of JSON per event."""

from __future__ import annotations

import json
from typing import Any


def event(name: str | None, data: Any) -> bytes:
    """One SSE event (``name`` None: a plain ``data:`` event, as OpenAI streams send)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()
