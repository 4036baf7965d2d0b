"""Peak memory of ingesting one huge one-line text file (issue #12 case 10): each size is
ingested in a fresh child process, whose peak RSS (``ru_maxrss``) above its own baseline
(after a warm-up ingest of a small file has loaded every part) is reported.

    python bench/memory_per_file.py                    # 5, 20 and 100 MB, memory store
    python bench/memory_per_file.py --store pgvector   # chunks kept by a PostgreSQL server
    python bench/memory_per_file.py --sizes 5 20 --embed real

The file is words and spaces only: no newline and no sentence end, so no paragraph, line or
sentence boundary bounds a piece. ``--embed fake`` (default) chunks with the real embedder's
tokenizer but embeds with ``FakeEmbedder`` (the vectors' memory is bounded by the window of
``WINDOW_CHUNKS`` either way, and real embedding of 100 MB takes many minutes on 2 cores);
``--embed real`` runs the real model too. Target: under 500 MiB above baseline for 100 MB.

``--store memory`` (default) keeps every chunk, vector and keyword posting in the measured
process, so its rows include the store's own data (growing with the file, as any in-process
store's must); ``--store pgvector`` starts a throwaway embedded PostgreSQL (``LocalPostgres``
with ``FAST_TEST_CONF``, in a temp dir, stopped at the end) whose server processes hold the
data, so its rows are the ingest's own per-file memory.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WORDS = [
    "marmot",
    "vole",
    "burrow",
    "meadow",
    "alpine",
    "grass",
    "winter",
    "sleep",
    "colony",
    "whistle",
    "sentinel",
    "den",
    "hibernation",
    "summer",
    "forage",
    "root",
    "seed",
    "predator",
    "eagle",
    "fox",
    "tunnel",
    "chamber",
    "valley",
    "slope",
]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from rag.api import RAG
from rag.chunking import TokenChunker
from rag.embeddings import make_embedder
from rag.config import load_settings
from rag.testing import FakeEmbedder

big, small, embed, dsn, name = (
    Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
)
settings = load_settings()
real = make_embedder(settings)
embedder = real if embed == "real" else FakeEmbedder(dimension=real.dimension)
chunker = TokenChunker(real.tokenizer, settings.chunk_tokens, settings.chunk_overlap)
if dsn:
    from rag.stores.pgvector import PgVectorStore
    store = PgVectorStore(dsn, name)
else:
    from rag.stores.memory import MemoryStore
    store = MemoryStore(name)
r = RAG(settings, store=store, embedder=embedder, chunker=chunker)
warm = r.ingest(small)
assert warm.ok, warm.failures
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
report = r.ingest(big)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ok": report.ok, "chunks": report.chunks_written, "seconds": seconds,
                  "base_mib": base / 1024, "peak_mib": peak / 1024,
                  "failures": [f.error for f in report.failures]}), flush=True)
store.close()
"""


def write_one_line(path: Path, megabytes: int, seed: int = 12) -> None:
    """``megabytes`` MB of space-separated words, without a newline or sentence end."""
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    written = 0
    with path.open("w", encoding="utf-8") as f:
        while written < target:
            block = " ".join(rng.choice(WORDS) for _ in range(20_000)) + " "
            block = block[: target - written]
            f.write(block)
            written += len(block)


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway embedded PostgreSQL + pgvector (durability off): its superuser DSN.

    Its directory is not under the benchmark's temp dir but a ``mkdtemp`` of its own, like
    ``tests/pg_fixture.py``'s (run as root, the server's unprivileged user must reach it)."""
    import shutil

    from rag.stores.pgvector_server import FAST_TEST_CONF, LocalPostgres

    path = Path(tempfile.mkdtemp(prefix="rag-membench-pg-"))
    server = LocalPostgres(path / "postgres", conf=FAST_TEST_CONF)
    try:
        yield server.start().dsn
    finally:
        server.stop()
        shutil.rmtree(path, ignore_errors=True)


def measure(megabytes: int, embed: str, work: Path, dsn: str = "") -> dict[str, float]:
    """Ingest a ``megabytes`` MB one-line file in a child process: its peak RSS above baseline.
    ``dsn``: into a new pgvector collection of that server; empty: into a ``MemoryStore``."""
    big = work / f"one-line-{megabytes}mb.txt"
    write_one_line(big, megabytes)
    small = work / "warm"
    small.mkdir(exist_ok=True)
    (small / "w.txt").write_text("marmot vole " * 200, encoding="utf-8")
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(big), str(small), embed, dsn, f"membench_{megabytes}mb"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    big.unlink()
    if out.returncode != 0:
        raise SystemExit(f"{megabytes} MB: child failed:\n{out.stderr[-3000:]}")
    row: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    row["mb"] = megabytes
    row["wall"] = wall
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 100], help="MB each")
    parser.add_argument("--embed", choices=("fake", "real"), default="fake")
    parser.add_argument(
        "--store",
        choices=("memory", "pgvector"),
        default="memory",
        help="memory: rows include the store's own data; pgvector: a throwaway local server",
    )
    args = parser.parse_args()
    label = "memory (rows include the store's own data)" if args.store == "memory" else "pgvector"
    print(
        f"one-line text file, embed={args.embed}, store={label}; "
        "RSS in MiB (ru_maxrss of a child process)"
    )
    print(
        f"{'size':>7} | {'chunks':>7} | {'base':>7} | {'peak':>7} | {'above base':>10} | ingest s"
    )
    print("-" * 64)
    server = postgres() if args.store == "pgvector" else _no_server()
    with tempfile.TemporaryDirectory() as tmp, server as dsn:
        for mb in args.sizes:
            row = measure(mb, args.embed, Path(tmp), dsn)
            above = row["peak_mib"] - row["base_mib"]
            print(
                f"{mb:>4} MB | {row['chunks']:>7} | {row['base_mib']:>7.0f} | "
                f"{row['peak_mib']:>7.0f} | {above:>10.0f} | {row['seconds']:.1f}"
                + ("" if row["ok"] else f"  FAILED: {row['failures']}"),
                flush=True,
            )


@contextmanager
def _no_server() -> Iterator[str]:
    yield ""


if __name__ == "__main__":
    main()
