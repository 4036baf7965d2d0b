"""The ingest plan (``rag ingest --dry-run``): exact chunk counts per category, estimates from
the measured rate and the price list, and a store, manifest and keyword index left byte for
byte as they were (the data directory, Chroma's files and pgvector's tables hashed)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from roots_helpers import CHUNKER, EMBEDDER, plan
from typer.testing import CliRunner

from rag import RAG
from rag.config import load_settings
from rag.keywords import KeywordTokenizer
from rag.pipelines.ingest import IngestPipeline
from rag.pipelines.ingest_estimate import (
    DEFAULT_SECONDS_PER_KCHAR,
    MIN_MEASURED_CHARS,
    EmbedRates,
    IngestEstimate,
)
from rag.stores.base import Store


def pipeline(store: Store) -> IngestPipeline:
    return IngestPipeline(store, EMBEDDER, CHUNKER, keyword_tokenizer=KeywordTokenizer())


def write_docs(root: Path) -> None:
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "a.md").write_text("# Intro\n\nChroma is the default store.\n\n## Switch\n\nUse pg.\n")
    (root / "b.txt").write_text("Costs are logged for every call. " * 30)
    (root / "sub" / "c.txt").write_text("Korean text: 한국어 검색은 형태소 분석을 씁니다.")
    (root / "gone.txt").write_text("This file will be deleted before the plan. " * 10)


def store_digest(store: Store, tmp_path: Path) -> str:
    """Every byte the store keeps: Chroma's directory (keyword sidecar included), pgvector's
    tables, the memory store's contents and manifest."""
    h = hashlib.sha256()
    kind = type(store).__name__
    if kind == "ChromaStore":
        for f in sorted((tmp_path / "chroma").rglob("*")):
            if f.is_file() and not f.name.endswith(("-wal", "-shm")):
                h.update(str(f).encode() + f.read_bytes())
    elif kind == "PgVectorStore":
        import psycopg

        with psycopg.connect(store.dsn) as conn:  # type: ignore[attr-defined]
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                )
            ]
            for table in tables:
                row = conn.execute(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
                ).fetchone()
                h.update(f"{table}={row[0] if row else ''}".encode())
    ids = sorted(i for s in store.sources() for i in store.ids_for_source(s))
    h.update(json.dumps([ids, sorted(map(repr, store.sources().values()))]).encode())
    return h.hexdigest()


def test_plan_counts_match_the_real_run_and_nothing_changes(
    tmp_path: Path, any_store: Store
) -> None:
    docs = tmp_path / "docs"
    write_docs(docs)
    pipeline(any_store).run(docs)
    (docs / "gone.txt").unlink()  # removed
    (docs / "b.txt").write_text("Costs are logged for every call. " * 30 + "One more sentence.")
    (docs / "new.md").write_text("# New\n\nA new file about retrieval. " * 5)
    (docs / "empty.txt").write_bytes(b"")  # failing
    (docs / "image.png").write_bytes(b"\x89PNG\r\n")  # skipped
    if type(any_store).__name__ == "ChromaStore":
        # Chroma rewrites a collection's HNSW files on the first read after a reopen (any
        # `rag ask` does): read both collections once, then the plan must change nothing
        any_store.close()
        from rag.stores.chroma import ChromaStore

        any_store = ChromaStore("docs", path=tmp_path / "chroma")
        any_store.count()
        any_store.sources()
        any_store.existing_ids(["warm-up"])
    before = store_digest(any_store, tmp_path)
    estimate = plan(any_store, docs)
    assert store_digest(any_store, tmp_path) == before, "the dry run changed the store"
    rows = estimate.categories
    assert {k: v.files for k, v in rows.items()} == {
        "new": 1,
        "changed": 1,
        "moved": 0,
        "unchanged": 2,
        "removed": 1,
        "failing": 1,
    }
    assert estimate.skipped == 1 and estimate.failures[0][0].endswith("empty.txt")
    assert rows["unchanged"].tokens == 0 and rows["removed"].tokens == 0
    assert 0 < rows["changed"].chunks_to_embed <= rows["changed"].chunks
    assert rows["new"].tokens > 0 and rows["new"].seconds > 0
    assert estimate.rate_source == "default"
    assert estimate.seconds_per_kchar == DEFAULT_SECONDS_PER_KCHAR["local"]
    assert estimate.total.cost == Decimal(0)
    report = pipeline(any_store).run(docs)
    assert rows["new"].chunks + rows["changed"].chunks == report.chunks_total, "exact"
    assert rows["new"].chunks_to_embed + rows["changed"].chunks_to_embed == report.chunks_embedded
    assert report.files_removed == 1 and report.files_failed == 1


def test_rate_is_measured_by_real_runs_and_used(tmp_path: Path) -> None:
    rates = EmbedRates(tmp_path / "cache")
    assert rates.rate("fake") is None
    rates.record("fake", 5.0, MIN_MEASURED_CHARS - 1)  # too small to tell
    assert rates.rate("fake") is None
    rates.record("fake", 10.0, 40_000)
    assert rates.rate("fake") == pytest.approx(0.25)
    rates.record("fake", 2.0, 40_000)  # older runs count half
    assert rates.rate("fake") == pytest.approx(1000 * (5 + 2) / (20_000 + 40_000))
    docs = tmp_path / "docs"
    write_docs(docs)
    from rag.stores.memory import MemoryStore

    estimate = plan(MemoryStore("docs"), docs, rates=rates)
    assert estimate.rate_source == "measured"
    new = estimate.categories["new"]
    assert new.seconds == pytest.approx(new.chars / 1000 * rates.rate("fake"))  # type: ignore[operator]


def test_hosted_cost_comes_from_the_price_list(tmp_path: Path) -> None:
    from rag.costs.pricing import load_prices
    from rag.stores.memory import MemoryStore

    docs = tmp_path / "docs"
    write_docs(docs)

    def hosted(model: str) -> IngestEstimate:
        return plan(
            MemoryStore("docs"),
            docs,
            embedder_key="x",
            embedder_label=f"openai:{model}",
            hosted=True,
            billing=("openai", model),
            prices=load_prices(),
        )

    estimate = hosted("text-embedding-3-large")
    new = estimate.categories["new"]
    assert new.cost == Decimal("0.13") * new.tokens / 1_000_000
    unpriced = hosted("mystery")
    assert unpriced.categories["new"].cost is None and unpriced.total.cost is None


def data_digest(root: Path) -> dict[str, str]:
    """Every file's sha256, except SQLite's -wal/-shm and Chroma's HNSW segment files (``*.bin``
    beside chroma.sqlite3): Chroma rebuilds those from its SQLite log whenever it loads the
    index, at times of its own; what they hold is compared by ``nearest`` instead. Chroma's
    SQLite file is compared by content: every client start adds a row to its ``acquire_write``
    table (Chroma's own lock bookkeeping), so no open of a Chroma store leaves its bytes as they
    were."""
    out: dict[str, str] = {}
    for f in sorted(root.rglob("*")):
        if not f.is_file() or f.name.endswith(("-wal", "-shm")):
            continue
        if f.suffix == ".bin" and f.parent.parent.name == "chroma":
            continue
        if f.name == "chroma.sqlite3":
            db = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
            try:
                rows = [r for r in db.iterdump() if not r.startswith('INSERT INTO "acquire_write"')]
            finally:
                db.close()
            out[str(f.relative_to(root))] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            continue
        out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def nearest(question: str) -> list[tuple[str, float]]:
    """The stored chunks nearest to ``question``, with their scores (reads the vector index)."""
    with RAG(load_settings(retrieval_mode="dense")) as r:
        return [(h.chunk.id, round(h.score, 5)) for h in r.retrieve(question, k=10)]


def test_cli_dry_run_prints_the_plan_and_leaves_the_data_dir(
    tmp_path: Path, _isolated_data_dir: Path
) -> None:
    from rag.cli import app

    docs = tmp_path / "docs"
    write_docs(docs)
    runner = CliRunner()
    fresh = runner.invoke(app, ["ingest", str(docs), "--dry-run"])
    assert fresh.exit_code == 0, fresh.output
    assert "new" in fresh.output and "dry run" in fresh.output
    assert not (_isolated_data_dir / "chroma").exists(), "a dry run creates no store"
    assert runner.invoke(app, ["ingest", str(docs)]).exit_code == 0
    hits = nearest("which store is the default")  # Chroma syncs its index on this first load
    before = data_digest(_isolated_data_dir)
    out = runner.invoke(app, ["ingest", str(docs), "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    assert data_digest(_isolated_data_dir) == before
    assert nearest("which store is the default") == hits and hits
    parsed = json.loads(out.output)
    assert parsed["categories"]["unchanged"]["files"] == 4
    assert parsed["categories"]["new"]["tokens"] == 0
