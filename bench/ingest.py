"""Ingest benchmark: first ingest and immediate re-run of a corpus, each a whole `rag ingest`
process (start-up, model load and all), with wall time and peak RSS.

    python bench/ingest.py                       # ../shared/evaldata/scifact/corpus.jsonl
    python bench/ingest.py --corpus PATH --store chroma --json out.json

Prints a table; the re-run must embed 0 chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "evaldata" / "scifact" / "corpus.jsonl"


def run_ingest(corpus: Path, data_dir: Path, store: str) -> dict[str, float]:
    """One `rag ingest` process: its report, wall seconds and peak RSS (MiB)."""
    cmd = [
        sys.executable,
        "-m",
        "rag.cli",
        "ingest",
        str(corpus),
        "--json",
        "--collection",
        "bench",
        "--store",
        store,
        "--data-dir",
        str(data_dir),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"rag ingest failed ({status}):\n{err[-3000:]}")
    report = json.loads(out)
    return {
        "files": report["files_seen"],
        "chunks": report["chunks_total"],
        "chunks_embedded": report["chunks_embedded"],
        "chunks_written": report["chunks_written"],
        "seconds": wall,
        "ingest_seconds": report["seconds"],
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--store", default="chroma")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    if not args.corpus.exists():
        raise SystemExit(f"corpus {args.corpus} does not exist; pass --corpus PATH")
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        first = run_ingest(args.corpus, Path(tmp), args.store)
        rerun = run_ingest(args.corpus, Path(tmp), args.store)
    rows = {"first ingest": first, "re-run (unchanged)": rerun}
    header = f"{'run':<20} {'files':>5} {'chunks':>7} {'embedded':>8} {'seconds':>8} {'chunks/s':>9} {'peak RSS MiB':>12}"
    print(f"corpus: {args.corpus} · store: {args.store}")
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        rate = r["chunks_embedded"] / r["seconds"] if r["seconds"] else 0.0
        print(
            f"{name:<20} {r['files']:>5} {r['chunks']:>7} {r['chunks_embedded']:>8} "
            f"{r['seconds']:>8.1f} {rate:>9.1f} {r['peak_rss_mib']:>12.0f}"
        )
    print(
        f"re-run speed-up: {first['seconds'] / rerun['seconds']:.1f}x; re-run embedded "
        f"{rerun['chunks_embedded']} chunks"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
