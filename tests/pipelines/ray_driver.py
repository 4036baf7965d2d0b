"""A Ray ingest driver for the two-node and fault tests, run as its own process
(``python -c "import ray_driver; ray_driver.main()" ADDRESS DATA DOCS DELAY``, with this folder
on ``PYTHONPATH`` of the driver and of the Ray nodes, so ``SlowEmbedder`` unpickles on workers).

Prints one ``file N/T`` line per committed file (flushed: the tests kill at a known point), then
the report as JSON on the last line.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rag.embeddings.base import InputType, Vectors
from rag.testing import FakeEmbedder


class SlowEmbedder(FakeEmbedder):
    """The fake embedder, sleeping ``delay`` seconds per call (a run lasts long enough to be
    killed midway). Same name and vectors as ``FakeEmbedder``."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        if self.delay:
            time.sleep(self.delay)
        return super().embed(texts, input_type=input_type)


class MeetingEmbedder(FakeEmbedder):
    """The fake embedder whose every call waits until a second process has called one too
    (each call leaves a file named by its process id in the folder ``meet``; ``timeout``
    seconds at most). Ray Data gives an actor at most two units in flight, so the first
    embedding actor up holds its first units until the second actor has one: both embed part
    of a file, however fast the first one is. Same name and vectors as ``FakeEmbedder``."""

    def __init__(self, meet: str, timeout: float = 120.0) -> None:
        super().__init__()
        self.meet = Path(meet)
        self.timeout = timeout

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        (self.meet / str(os.getpid())).touch()
        deadline = time.monotonic() + self.timeout
        while len(list(self.meet.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().embed(texts, input_type=input_type)


class CrashingEmbedder(FakeEmbedder):
    """The fake embedder whose process dies (``os._exit``, as an out-of-memory kill or a
    crash in native code would end it) whenever a text holds ``marker``. Same name and
    vectors as ``FakeEmbedder`` otherwise."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        if any(self.marker in t for t in texts):
            os._exit(1)
        return super().embed(texts, input_type=input_type)


def settings(data: Path, engine: str, address: str | None) -> object:
    from rag.config import Settings

    return Settings(
        data_dir=data,
        store="chroma",
        collection="docs",
        ingest_engine=engine,  # type: ignore[arg-type]
        ray_address=address,
    )


def main() -> None:
    from rag.api import RAG

    address, data, docs, delay = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])

    def progress(event: str, done: int, total: int) -> None:
        if event == "file":
            print(f"file {done}/{total}", flush=True)

    with RAG(settings(data, "ray", address), embedder=SlowEmbedder(delay)) as rag:  # type: ignore[arg-type]
        report = rag.ingest(docs, progress=progress)
    print(report.model_dump_json(), flush=True)
