"""Vector store benchmark: Chroma vs pgvector vs Qdrant on the same synthetic 384-d corpus.

    python bench/stores.py                    # 100,000 chunks, chroma, pgvector and qdrant
    python bench/stores.py --n 20000 --stores pgvector --json out.json
    python bench/stores.py --stores qdrant-server --qdrant-url http://127.0.0.1:6333

Data (seeded): each vector is a cluster centre (200 random centres) plus a 32-d latent
offset through a fixed random 384x32 mixing matrix plus a little isotropic noise, then
normalized; so neighbourhoods have the low intrinsic dimension of real text embeddings and
recall@10 means something. Chunks carry ~500 characters of text and metadata ``category``
(10 values, independent of the cluster, so ``{"category": 3}`` keeps 10%). Queries are fresh
samples from the same distribution (not in the corpus).

Per store: write throughput through ``Store.write`` in batches of ``--batch`` chunks (one
transaction each for pgvector), index build time, query latency p50/p95 for top-10 through
``Store.query`` (Python objects included) without and with the filter, recall@10 against exact
numpy search (with the same filter), and disk size.

pgvector runs on its own embedded server (``rag.stores.pgvector_server``: durable defaults, but
``shared_buffers=1GB`` instead of 128MB so the 100k-row HNSW graph fits in PostgreSQL's cache, as
on any tuned server). It bulk
loads without an index (``hnsw_min_rows=None``), then builds HNSW once with ``create_index()``
(m=16, ef_construction=64) -- reported as "index build". Afterwards ``--incremental`` more
chunks are written into the indexed table to report row-by-row index maintenance honestly.
Chroma maintains its HNSW index while writing (build time is inside its write throughput).
Qdrant (``qdrant``) runs in qdrant-client's local mode in a temp dir: exact numpy search, no
index (its own docs say a server for more than 20,000 points), so its recall is 1 and its
latency grows with n; ``qdrant-server`` benchmarks a running server (``--qdrant-url``, HNSW
built by the server in the background while and after writing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from rag.stores.base import Store  # noqa: E402
from rag.types import Chunk  # noqa: E402

WORDS = [
    "vector",
    "index",
    "query",
    "recall",
    "latency",
    "chunk",
    "embedding",
    "store",
    "source",
    "filter",
    "postgres",
    "chroma",
    "graph",
    "neighbour",
    "cluster",
    "cosine",
    "distance",
    "table",
    "metadata",
    "ingest",
    "answer",
    "citation",
    "document",
    "retrieval",
    "generation",
    "model",
    "token",
    "context",
    "window",
    "batch",
    "throughput",
    "disk",
    "memory",
]


class Corpus:
    """Seeded synthetic corpus: vectors, chunks, queries and exact answers."""

    def __init__(self, n: int, dim: int, n_queries: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        centres = rng.normal(size=(200, dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        mixing = (rng.normal(size=(dim, 32)) / np.sqrt(32)).astype(np.float32)

        def sample(m: int) -> np.ndarray:
            labels = rng.integers(0, len(centres), m)
            latent = rng.normal(scale=0.35, size=(m, 32)).astype(np.float32)
            noise = rng.normal(scale=0.15 / np.sqrt(dim), size=(m, dim)).astype(np.float32)
            x = centres[labels] + latent @ mixing.T + noise
            out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
            return out.astype(np.float32)

        self.vectors = sample(n)
        self.queries = sample(n_queries)
        self.category = rng.integers(0, 10, n)
        filler = [" ".join(rng.choice(WORDS, 70)) for _ in range(500)]
        self.texts = [f"chunk {i}: {filler[i % 500]}"[:500] for i in range(n)]

    def chunks(self, lo: int, hi: int, prefix: str = "c") -> list[Chunk]:
        return [
            Chunk(
                id=f"{prefix}{i}",
                text=self.texts[i % len(self.texts)],
                source=f"/bench/doc{i // 20}.txt",
                content_hash=f"{i:064x}",
                metadata={"category": int(self.category[i % len(self.category)]), "n": i},
            )
            for i in range(lo, hi)
        ]

    def exact(self, q: np.ndarray, k: int, category: int | None) -> set[str]:
        sims = self.vectors @ q
        if category is not None:
            sims = np.where(self.category == category, sims, -np.inf)
        top = np.argpartition(-sims, k)[:k]
        return {f"c{i}" for i in top}


def _pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, p))


def write_all(store: Store, chunks: list[Chunk], vectors: np.ndarray, batch: int) -> float:
    """Write prebuilt chunks in batches of ``batch``; return chunks/s."""
    n = len(chunks)
    start = time.perf_counter()
    for lo in range(0, n, batch):
        store.write(chunks[lo : lo + batch], vectors[lo : lo + batch])
    return n / (time.perf_counter() - start)


def measure_queries(
    store: Store, corpus: Corpus, k: int = 10, limit: int | None = None
) -> dict[str, float]:
    """p50/p95 latency and mean recall@k, unfiltered and with ``category`` = 3, over the
    first ``limit`` queries (default: all)."""
    out: dict[str, float] = {}
    for label, category in (("plain", None), ("filtered", 3)):
        filters = None if category is None else {"category": category}
        for q in corpus.queries[:20]:  # warm up: plans, caches
            store.query(q, k, filters)
        lat, recall = [], []
        for q in corpus.queries[:limit]:
            t0 = time.perf_counter()
            hits = store.query(q, k, filters)
            lat.append(time.perf_counter() - t0)
            recall.append(len({h.chunk.id for h in hits} & corpus.exact(q, k, category)) / k)
        out[f"{label}_p50_ms"] = _pct(lat, 50)
        out[f"{label}_p95_ms"] = _pct(lat, 95)
        out[f"{label}_recall"] = statistics.fmean(recall)
    return out


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextmanager
def tempdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def bench_chroma(corpus: Corpus, n: int, batch: int, log: Callable[[str], None]) -> dict[str, Any]:
    from rag.stores.chroma import ChromaStore

    with tempdir("rag-bench-chroma-") as path:
        store = ChromaStore("bench", path=path)
        try:
            log("chroma: writing")
            rate = write_all(store, corpus.chunks(0, n), corpus.vectors, batch)
            log("chroma: querying")
            result: dict[str, Any] = {
                "store": "chroma",
                "write_chunks_per_s": rate,
                "index_build_s": None,
                "index_note": "incremental, inside writes",
            }
            result.update(measure_queries(store, corpus))
            result["disk_mb"] = dir_bytes(path) / 2**20
        finally:
            store.close()
    return result


def bench_qdrant(
    corpus: Corpus, n: int, batch: int, url: str | None, log: Callable[[str], None]
) -> dict[str, Any]:
    from rag.stores.qdrant import QdrantStore

    name = "qdrant-server" if url else "qdrant"
    with tempdir("rag-bench-qdrant-") as path:
        if url:
            store = QdrantStore(f"bench-{int(time.time())}", url=url, keyword_dir=path / "kw")
        else:
            store = QdrantStore("bench", path=path / "qdrant")
        try:
            log(f"{name}: writing")
            rate = write_all(store, corpus.chunks(0, n), corpus.vectors, batch)
            log(f"{name}: querying")
            result: dict[str, Any] = {
                "store": name,
                "write_chunks_per_s": rate,
                "index_build_s": None,
                "index_note": "server HNSW, built in the background"
                if url
                else "none: local mode searches exactly (numpy)",
            }
            # local mode checks a filter in Python point by point (~50 us each): 50 queries
            limit = None if url else 50
            result["queries"] = len(corpus.queries[:limit])
            result.update(measure_queries(store, corpus, limit=limit))
            result["disk_mb"] = None if url else dir_bytes(path) / 2**20
        finally:
            if url:
                store.delete_collection()
            store.close()
    return result


def bench_pgvector(
    corpus: Corpus,
    n: int,
    batch: int,
    incremental: int,
    ef_sweep: list[int],
    log: Callable[[str], None],
) -> dict[str, Any]:
    from rag.stores.pgvector import PgVectorStore
    from rag.stores.pgvector_server import LocalPostgres

    with tempdir("rag-bench-pg-") as path:
        server = LocalPostgres(path / "postgres", conf={"shared_buffers": "1GB"})
        info = server.start()
        try:
            store = PgVectorStore(info.dsn, "bench", hnsw_min_rows=None)
            try:
                log("pgvector: bulk writing (no index yet)")
                rate = write_all(store, corpus.chunks(0, n), corpus.vectors, batch)
                log("pgvector: building the HNSW index")
                build = store.create_index()
                result: dict[str, Any] = {
                    "store": "pgvector",
                    "write_chunks_per_s": rate,
                    "index_build_s": build,
                    "index_note": "CREATE INDEX after bulk load (m=16, ef_construction=64)",
                    "ef_search": store.ef_search,
                }
                log("pgvector: querying")
                result.update(measure_queries(store, corpus))
                result["disk_mb"] = store.disk_bytes() / 2**20
                sweep = {}
                for ef in ef_sweep:
                    with PgVectorStore(info.dsn, "bench", ef_search=ef, hnsw_min_rows=None) as s:
                        sweep[ef] = measure_queries(s, corpus)
                result["ef_search_sweep"] = sweep
                if incremental:
                    log(f"pgvector: {incremental} incremental writes into the indexed table")
                    more = corpus.chunks(0, incremental, prefix="inc")
                    rate = write_all(store, more, corpus.vectors[:incremental], batch)
                    result["incremental_chunks_per_s"] = rate
            finally:
                store.close()
        finally:
            server.stop()
    return result


def print_table(results: list[dict[str, Any]], n: int, dim: int) -> None:
    def fmt(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    rows = [
        ("write (chunks/s)", "write_chunks_per_s", ",.0f"),
        ("index build (s)", "index_build_s", ".1f"),
        ("query p50 (ms)", "plain_p50_ms", ".2f"),
        ("query p95 (ms)", "plain_p95_ms", ".2f"),
        ("recall@10", "plain_recall", ".3f"),
        ("filtered p50 (ms)", "filtered_p50_ms", ".2f"),
        ("filtered p95 (ms)", "filtered_p95_ms", ".2f"),
        ("filtered recall@10", "filtered_recall", ".3f"),
        ("disk (MB)", "disk_mb", ",.0f"),
        ("incremental write (chunks/s)", "incremental_chunks_per_s", ",.0f"),
    ]
    names = [r["store"] for r in results]
    print(f"\n{n:,} chunks x {dim}-d, top-10, filter = category (10% of chunks)\n")
    print(f"{'':30}" + "".join(f"{name:>14}" for name in names))
    for label, key, spec in rows:
        print(f"{label:30}" + "".join(f"{fmt(r.get(key), spec):>14}" for r in results))
    for r in results:
        print(f"{r['store']}: index {r['index_note']}")
        for ef, m in (r.get("ef_search_sweep") or {}).items():
            print(
                f"  ef_search={ef:<4} p50 {m['plain_p50_ms']:.2f} ms, recall {m['plain_recall']:.3f}"
                f"; filtered p50 {m['filtered_p50_ms']:.2f} ms, recall {m['filtered_recall']:.3f}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="chunks to write [100000]")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000, help="chunks per write() [1000]")
    parser.add_argument("--stores", default="chroma,pgvector,qdrant")
    parser.add_argument("--qdrant-url", help="a Qdrant server for --stores qdrant-server")
    parser.add_argument("--incremental", type=int, default=5000)
    parser.add_argument("--ef-sweep", default="40,200", help="extra pgvector ef_search values")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    log(f"generating {args.n:,} x {args.dim} vectors")
    corpus = Corpus(args.n, args.dim, args.queries)
    results = []
    for name in args.stores.split(","):
        if name == "chroma":
            results.append(bench_chroma(corpus, args.n, args.batch, log))
        elif name == "pgvector":
            sweep = [int(x) for x in args.ef_sweep.split(",") if x]
            results.append(bench_pgvector(corpus, args.n, args.batch, args.incremental, sweep, log))
        elif name == "qdrant":
            results.append(bench_qdrant(corpus, args.n, args.batch, None, log))
        elif name == "qdrant-server":
            if not args.qdrant_url:
                parser.error("--stores qdrant-server needs --qdrant-url")
            results.append(bench_qdrant(corpus, args.n, args.batch, args.qdrant_url, log))
        else:
            parser.error(
                f"unknown store {name!r}: use chroma, pgvector, qdrant and/or qdrant-server"
            )
    print_table(results, args.n, args.dim)
    if args.json:
        args.json.write_text(
            json.dumps({"n": args.n, "dim": args.dim, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
