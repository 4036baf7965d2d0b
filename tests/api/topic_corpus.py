"""The corpus the AsyncRAG tests share: two documents per made-up topic word, no word shared
across topics, so a hit from another topic is a mix-up, never a near miss."""

from __future__ import annotations

from pathlib import Path

TOPICS = 16


def topic(i: int) -> str:
    return f"zorblax{i}quen"


def write_corpus(root: Path) -> dict[int, set[str]]:
    """Two documents per topic, no word shared across topics; topic -> its source paths."""
    sources: dict[int, set[str]] = {}
    for i in range(TOPICS):
        for j in range(2):
            path = root / f"t{i:02d}" / f"doc{j}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            words = " ".join(f"w{i}x{j}y{n}" for n in range(3))
            path.write_text(f"{topic(i)} {topic(i)} {words}.\nIt says {topic(i)} matters.\n")
            sources.setdefault(i, set()).add(str(path.absolute()))
    return sources
