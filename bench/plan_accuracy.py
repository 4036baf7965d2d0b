"""How good is ``rag ingest --dry-run``? Its estimate against the real ingest, on SciFact.

    .venv/bin/python bench/plan_accuracy.py                  # ../shared/evaldata/scifact, all docs
    .venv/bin/python bench/plan_accuracy.py --limit 50       # a quick check (seconds)
    .venv/bin/python bench/plan_accuracy.py --calibrate 500  # first measure this machine's rate

The corpus becomes one JSON Lines file in a temporary folder, as ``bench/peers.py`` writes it
(never copied into the repo). Then, each as its own ``rag`` process on a fresh data directory:
optionally a calibration ingest of the first ``--calibrate`` documents (it records this
machine's rate in the cache directory, as every real ingest does), the dry run (``--dry-run
--json``), and the real ingest (``--json``). Prints estimated vs actual seconds (the ingest's
own ``seconds``, which the rate is measured in; the process's wall time beside it) and chunk
counts, and writes ``bench/out/plan_accuracy.json``. The issue's bar: seconds within +-30%,
chunks exact. The cache directory is the user's (the ONNX export and the measured rate live
there) unless ``--cache-dir`` names another.
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
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from peers import DEFAULT_DATASET, rag_bin, write_corpus  # noqa: E402

OUT = BENCH / "out" / "plan_accuracy.json"
COLLECTION = "plan"


def rag(args: list[str], data_dir: Path, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run ``rag ARGS --data-dir DIR --json``; its JSON output and wall seconds."""
    cmd = [rag_bin(), *args, "--collection", COLLECTION, "--data-dir", str(data_dir), "--json"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout), wall


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--limit", type=int, default=None, help="first N documents only")
    p.add_argument(
        "--calibrate",
        type=int,
        default=0,
        help="first ingest this many documents (another data dir) to measure the rate",
    )
    p.add_argument("--cache-dir", type=Path, default=None)
    args = p.parse_args(argv)
    env = dict(os.environ)
    if args.cache_dir is not None:
        env["RAG_CACHE_DIR"] = str(args.cache_dir)
    with tempfile.TemporaryDirectory(prefix="rag-plan-") as tmp:
        work = Path(tmp)
        src = args.dataset / "corpus.jsonl"
        if args.calibrate:
            (work / "calib").mkdir()
            write_corpus(src, work / "calib" / "corpus.jsonl", limit=args.calibrate)
            rag(["ingest", str(work / "calib")], work / "calib-data", env)
        (work / "corpus").mkdir()
        docs = write_corpus(src, work / "corpus" / "corpus.jsonl", limit=args.limit)
        plan, plan_wall = rag(["ingest", str(work / "corpus"), "--dry-run"], work / "data", env)
        report, wall = rag(["ingest", str(work / "corpus")], work / "data", env)
    total = plan["categories"]
    est_chunks = sum(total[c]["chunks"] for c in ("new", "changed"))
    est_seconds = sum(row["seconds"] for row in total.values())
    tokens = sum(row["tokens"] for row in total.values())
    actual = report["seconds"]
    result = {
        "dataset": str(args.dataset),
        "documents": docs,
        "rate_source": plan["rate_source"],
        "seconds_per_kchar": plan["seconds_per_kchar"],
        "tokens_to_embed": tokens,
        "estimated_seconds": est_seconds,
        "actual_seconds": actual,
        "actual_process_seconds": wall,
        "dry_run_process_seconds": plan_wall,
        "seconds_error": (est_seconds - actual) / actual if actual else None,
        "estimated_chunks": est_chunks,
        "actual_chunks": report["chunks_total"],
        "chunks_exact": est_chunks == report["chunks_total"],
    }
    err = result["seconds_error"]
    print(f"SciFact plan vs real ingest ({docs} documents; rate {plan['rate_source']})")
    print(f"{'':22}{'estimated':>12}{'actual':>12}")
    print(
        f"{'seconds (ingest)':22}{est_seconds:12.1f}{actual:12.1f}   error {err:+.0%}"
        if err is not None
        else ""
    )
    print(f"{'seconds (process)':22}{'':12}{wall:12.1f}   dry run itself {plan_wall:.1f} s")
    print(
        f"{'chunks':22}{est_chunks:12d}{report['chunks_total']:12d}   exact: {result['chunks_exact']}"
    )
    print(f"{'tokens to embed':22}{tokens:12d}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written {OUT.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()
