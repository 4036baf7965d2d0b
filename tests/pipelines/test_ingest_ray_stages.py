"""The worker side of ``--engine ray`` (``rag.pipelines.ingest_ray_stages``), called as Ray
Data calls it but in this process: how the load stage cuts files into embedding units.

A unit is what one actor embeds in one call and one Ray block. One big file must become many
units (SciFact is one JSON Lines file: as one block it was embedded by one actor while the
others idled), small files share a unit, and a unit is handed on as soon as it is read. The
units put back together must be exactly what the local engine's load + chunk makes.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rag.chunking import TokenChunker
from rag.connectors import default_loaders
from rag.connectors.json import JsonLoader
from rag.pipelines.ingest_chunk import load_and_chunk
from rag.pipelines.ingest_plan import PlannedFile, plan_file, walk_files
from rag.pipelines.ingest_ray_stages import LoadedPart, RayParts, load_stage
from rag.testing import FakeEmbedder
from rag.types import Document

SIZE = 4


def parts() -> RayParts:
    return RayParts(embedder=FakeEmbedder, chunker=TokenChunker(FakeEmbedder().tokenizer, 40, 8))


def planned(root: Path) -> list[PlannedFile]:
    walked = walk_files(root)
    return [plan_file(e, {}) for e in walked.entries]


def batch(files: list[PlannedFile], stored: list[set[str]] | None = None) -> dict[str, Any]:
    """The rows the driver hands the load stage: (file no, pickled (file, stored ids))."""
    held = stored or [set() for _ in files]
    work = np.empty(len(files), dtype=object)
    for i, (f, ids) in enumerate(zip(files, held, strict=True)):
        work[i] = pickle.dumps((f, ids))
    return {"key": np.arange(len(files), dtype=np.int64), "work": work}


def units(rows: Iterator[dict[str, Any]]) -> list[list[LoadedPart]]:
    out = []
    for row in rows:
        assert len(row["payload"]) == 1, "one unit per yielded batch (one block each)"
        out.append(pickle.loads(row["payload"][0]))
    return out


def write_records(path: Path, n: int) -> None:
    lines = [json.dumps({"id": str(i), "text": f"Record {i} about budgets."}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def test_one_big_file_is_many_units_of_one_part_each(tmp_path: Path) -> None:
    write_records(tmp_path / "corpus.jsonl", 30)
    (f,) = planned(tmp_path)
    got = units(load_stage(batch([f]), parts(), SIZE))
    assert len(got) > 5
    assert all(len(u) == 1 for u in got), "a big file's parts are never merged"
    chunks = [c for u in got for _, _, part, _ in u for c in part.chunks]
    assert all(len(u[0][2].chunks) == SIZE for u in got[:-1])
    assert [last for u in got for _, last, _, _ in u] == [False] * (len(got) - 1) + [True]
    whole = load_and_chunk(f, parts().chunker)
    assert [c.id for c in chunks] == [c.id for c in whole.chunks]
    assert [c.text for c in chunks] == [c.text for c in whole.chunks]


class CountingJsonLoader(JsonLoader):
    """The JSON loader, counting the records read so far."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def iter_load(self, path: Path, file: BinaryIO) -> Iterator[Document]:
        for doc in super().iter_load(path, file):
            self.read += 1
            yield doc


def test_the_first_unit_is_handed_on_before_the_file_is_read(tmp_path: Path) -> None:
    # 20 records of 60 kB: the chunker takes them in groups of CHUNK_GROUP_CHARS (1 MiB)
    word = "b" * 99
    lines = [json.dumps({"id": str(i), "text": f"{word}{i} " * 600}) for i in range(20)]
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    (f,) = planned(tmp_path)
    loader = CountingJsonLoader()
    registry = default_loaders()
    registry.register(loader)
    rows = load_stage(batch([f]), RayParts(FakeEmbedder, parts().chunker, loaders=registry), SIZE)
    next(rows)
    assert 0 < loader.read < 20, "the first unit leaves before the last record is read"
    assert len(units(rows)) > 1 and loader.read == 20


def test_small_files_share_units_in_walk_order(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"note{i}.md").write_text(f"# Note {i}\n\nBudgets hold.\n")
    files = planned(tmp_path)
    got = units(load_stage(batch(files), parts(), SIZE))
    flat = [(key, last) for u in got for key, last, _, _ in u]
    assert flat == [(i, True) for i in range(6)], "each file's one part, in order"
    assert len(got) < len(files)
    for u in got[:-1]:
        assert sum(len(p.chunks) for _, _, p, _ in u) >= SIZE


def test_a_part_carries_only_its_own_stored_ids(tmp_path: Path) -> None:
    write_records(tmp_path / "corpus.jsonl", 12)
    (f,) = planned(tmp_path)
    whole = load_and_chunk(f, parts().chunker)
    stored = {whole.chunks[0].id, whole.chunks[-1].id, "gone-since"}
    got = units(load_stage(batch([f], [stored]), parts(), SIZE))
    held = [h for u in got for _, _, _, h in u]
    assert held[0] == {whole.chunks[0].id}
    assert held[-1] == {whole.chunks[-1].id}
    assert all(not h for h in held[1:-1])
