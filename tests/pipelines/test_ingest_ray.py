"""``--engine ray`` (``rag.pipelines.ingest_ray``) on a real local Ray cluster: the store it
leaves equals the local engine's (ids, texts, locations, manifest, keyword rows; vectors to
float tolerance) on Chroma and on pgvector; two Ray nodes both embed; a killed worker is
retried, a file that kills its worker each time fails alone, and a killed driver is repaired by
a re-run.

One Ray cluster per session (``ray.init(num_cpus=2)``), tiny corpora: Ray starts in seconds
but every stage still crosses processes. The two-node and killed-driver tests run their
driver in a subprocess (one process can join one cluster only).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.api import RAG
from rag.config import Settings
from rag.stores.base import Store, keyword_search
from rag.testing import FakeEmbedder

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A real local Ray of 2 CPUs for the session (its GCS address, for subprocesses)."""
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with one Helvetica text line per entry."""
    sys.path.insert(0, str(REPO / "tests" / "connectors"))
    from test_connectors import make_pdf as pdf

    return pdf([lines])


def write_mixed(root: Path, *, records: int = 40) -> None:
    """Markdown, a PDF, JSON Lines, Korean CP949 JSON Lines, and a file that fails."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "guide.md").write_text(
        "# Guide\n\nChroma is the default store.\n\n## Scaling\n\n"
        + "Ray spreads embedding over a cluster. " * 40
    )
    (root / "paper.pdf").write_bytes(make_pdf(["Budgets hold across replicas.", "Page text."]))
    lines = [
        json.dumps({"id": str(i), "text": f"Record {i} about costs and budgets."})
        for i in range(records)
    ]
    (root / "records.jsonl").write_text("\n".join(lines) + "\n")
    korean = [
        json.dumps(
            {"id": i, "text": f"{i}번째 문서: 한국어 검색은 형태소 분석을 씁니다."},
            ensure_ascii=False,
        )
        for i in range(12)
    ]
    (root / "korean.jsonl").write_bytes("\n".join(korean).encode("cp949"))
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")


def snapshot(store: Store, dimension: int = 64) -> dict[str, Any]:
    """Everything stored: chunks (text, source, location, metadata), vectors (as scores
    against probe vectors), manifest (minus the time) and keyword rows."""
    n = store.count()
    probes = np.eye(dimension, dtype=np.float32)[:8] + 0.01
    chunks: dict[str, Any] = {}
    scores: dict[str, list[float]] = {}
    for probe in probes:
        for hit in store.query(probe, k=max(n, 1)):
            c = hit.chunk
            chunks[c.id] = (c.text, c.source, c.location.model_dump(), c.content_hash)
            chunks[c.id] += (c.root, c.rel_path)
            scores.setdefault(c.id, []).append(hit.score)
    manifest = {s: (r.file_hash, r.chunk_count, r.embedder) for s, r in store.sources().items()}
    kw = keyword_search(store)
    keyword = None
    if kw is not None:
        keyword = {s: kw.keyword_ids(sorted(store.ids_for_source(s))) for s in store.sources()}
    return {"count": n, "chunks": chunks, "scores": scores, "manifest": manifest, "kw": keyword}


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["count"] == b["count"] and a["count"] > 0
    assert a["chunks"] == b["chunks"]
    assert a["manifest"] == b["manifest"]
    assert a["kw"] == b["kw"]
    for cid, scores in a["scores"].items():
        np.testing.assert_allclose(scores, b["scores"][cid], atol=1e-5)


def make_rag(store: str, data: Path, engine: str, pg_dsn: str | None, name: str) -> RAG:
    settings = Settings(
        data_dir=data,
        store=store,  # type: ignore[arg-type]
        pg_dsn=pg_dsn,
        collection=name,
        ingest_engine=engine,  # type: ignore[arg-type]
    )
    return RAG(settings, embedder=FakeEmbedder())


@pytest.mark.parametrize("store", ["chroma", "pgvector"])
def test_ray_engine_stores_what_the_local_engine_stores(
    store: str, ray_cluster: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    docs = tmp_path / "docs"
    write_mixed(docs)
    dsn = request.getfixturevalue("pg_dsn") if store == "pgvector" else None
    suffix = uuid.uuid4().hex[:6]
    local = make_rag(store, tmp_path / "local", "local", dsn, f"local_{suffix}")
    on_ray = make_rag(store, tmp_path / "ray", "ray", dsn, f"ray_{suffix}")
    events: list[str] = []
    with local, on_ray:
        want = local.ingest(docs)
        got = on_ray.ingest(docs, progress=lambda e, d, t: events.append(e))
        assert_same(snapshot(on_ray.store), snapshot(local.store))
        fields = {"files_seen", "files_new", "files_failed", "chunks_total", "chunks_written"}
        assert got.model_dump(include=fields) == want.model_dump(include=fields)
        assert {f.path for f in got.failures} == {f.path for f in want.failures}
        assert want.files_failed == 1 and want.files_new == 4
        assert events[0] == "scan" and "file" in events and "embed" in events
        # a change and a removal: the ray engine's incremental run matches too
        (docs / "guide.md").write_text("# Guide\n\nRewritten entirely about replicas.\n")
        (docs / "records.jsonl").unlink()
        want = local.ingest(docs)
        got = on_ray.ingest(docs)
        assert got.files_changed == want.files_changed == 1
        assert got.files_removed == want.files_removed == 1
        assert got.chunks_embedded == want.chunks_embedded
        assert_same(snapshot(on_ray.store), snapshot(local.store))
        again = on_ray.ingest(docs)
        assert again.files_unchanged == 3 and again.chunks_embedded == 0
        # a moved folder: both engines re-key it with the stored vectors, nothing embedded
        moved = docs.rename(tmp_path / "moved")
        want = local.ingest(moved)
        got = on_ray.ingest(moved)
        assert got.files_moved == want.files_moved == 3
        assert got.chunks_embedded == want.chunks_embedded == 0
        assert_same(snapshot(on_ray.store), snapshot(local.store))
        # a copy of it: new files with the stored vectors, nothing embedded either
        copy = tmp_path / "copy"
        shutil.copytree(moved, copy)
        want = local.ingest(copy)
        got = on_ray.ingest(copy)
        assert got.files_new == want.files_new == 3
        assert got.files_copied == want.files_copied == 3
        assert got.chunks_embedded == want.chunks_embedded == 0
        assert got.chunks_written == want.chunks_written > 0
        assert_same(snapshot(on_ray.store), snapshot(local.store))


def test_one_big_file_is_embedded_on_both_actors(
    ray_cluster: str, pg_dsn: str, tmp_path: Path
) -> None:
    """One JSON Lines file, many units (``part_chunks`` lowered to 4 from 128): each of the two
    embedding actors embeds some of them (counted per worker process, as the two-node test
    counts per node), and the store equals the local engine's. ``MeetingEmbedder`` makes the
    spread certain: the first actor up waits for the second to take a unit. On pgvector: below
    its index threshold a query is an exact scan, so the snapshot sees every chunk."""
    import ray_driver
    from ray import cloudpickle

    from rag.pipelines.ingest_ray import RayIngest, RayParts

    docs = tmp_path / "docs"
    docs.mkdir()
    records = 60
    lines = [json.dumps({"id": str(i), "text": f"Record {i}: budgets."}) for i in range(records)]
    (docs / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    meet = tmp_path / "meet"
    meet.mkdir()
    # the test helpers are not importable on Ray's workers: ship the embedder by value
    cloudpickle.register_pickle_by_value(ray_driver)
    suffix = uuid.uuid4().hex[:6]
    local = make_rag("pgvector", tmp_path / "local", "local", pg_dsn, f"big_local_{suffix}")
    on_ray = make_rag("pgvector", tmp_path / "ray", "ray", pg_dsn, f"big_ray_{suffix}")
    try:
        with local, on_ray:
            want = local.ingest(docs)
            parts = RayParts(
                embedder=partial(ray_driver.MeetingEmbedder, str(meet)),
                chunker=on_ray.chunker,
                keyword_tokenizer=on_ray.keyword_tokenizer,
                loaders=on_ray.loaders,
            )
            engine = RayIngest(on_ray.store, parts, lambda: on_ray.embedder, part_chunks=4)
            run = engine.run_stats(docs)
            assert want.chunks_total == run.report.chunks_total == records
            assert run.embed_actors == 2
            by_worker = run.parts_by_worker
            assert len(by_worker) == 2 and all(n > 0 for n in by_worker.values()), by_worker
            assert sum(by_worker.values()) == records // 4, "one part of 4 chunks per unit"
            assert run.report.chunks_embedded == want.chunks_embedded == records
            assert_same(snapshot(on_ray.store), snapshot(local.store))
    finally:
        cloudpickle.unregister_pickle_by_value(ray_driver)


def test_a_file_that_kills_its_worker_fails_alone(ray_cluster: str, tmp_path: Path) -> None:
    """A file whose text crashes the embedder's process (``CrashingEmbedder``: ``os._exit``)
    is retried by Ray once with its unit and once alone, then reported failed with the fix;
    the files that shared its unit are stored as the local engine stores them (the run ends:
    Ray Data alone would retry it for ever)."""
    import ray_driver
    from ray import cloudpickle

    from rag.pipelines.ingest_ray import RayIngest, RayParts
    from rag.pipelines.ingest_ray_stages import LOST_FILE

    docs = tmp_path / "docs"
    write_mixed(docs)
    suffix = uuid.uuid4().hex[:6]
    local = make_rag("chroma", tmp_path / "local", "local", None, f"lost_local_{suffix}")
    on_ray = make_rag("chroma", tmp_path / "ray", "ray", None, f"lost_ray_{suffix}")
    cloudpickle.register_pickle_by_value(ray_driver)
    try:
        with local, on_ray:
            want = local.ingest(docs)  # before the poisoned file exists
            (docs / "notes.md").write_text("# Notes\n\nThis line holds POISON for the embedder.\n")
            parts = RayParts(
                embedder=partial(ray_driver.CrashingEmbedder, "POISON"),
                chunker=on_ray.chunker,
                keyword_tokenizer=on_ray.keyword_tokenizer,
                loaders=on_ray.loaders,
            )
            engine = RayIngest(on_ray.store, parts, lambda: on_ray.embedder)
            got = engine.run_stats(docs).report
            failures = {Path(f.path).name: f.error for f in got.failures}
            assert failures == {"broken.pdf": failures["broken.pdf"], "notes.md": LOST_FILE}
            assert got.files_failed == want.files_failed + 1 == 2
            assert got.chunks_written == want.chunks_written
            assert_same(snapshot(on_ray.store), snapshot(local.store))
            # the next run tries the file again (it was never recorded as done)
            (docs / "notes.md").write_text("# Notes\n\nThis line is harmless now.\n")
            again = engine.run_stats(docs).report
            assert again.files_new == 1 and again.files_failed == 1, again
    finally:
        cloudpickle.unregister_pickle_by_value(ray_driver)
