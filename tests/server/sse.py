"""Reading Server-Sent Events in tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def parse_events(lines: Iterable[str]) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs from SSE lines (data parsed as JSON)."""
    events: list[tuple[str, Any]] = []
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        events.append((name, json.loads("\n".join(data))))
    return events
