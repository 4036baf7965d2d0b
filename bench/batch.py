"""Many questions: ``rag ask`` once per question (a process each) vs ``rag ask --file`` (one
process) vs ``RAG.ask_many`` in-process, on the local model and on a loopback hosted server.

The first ``--questions`` questions of ``evals/data/en`` (corpus ingested into a temporary
data directory first), answered generatively (``--answer-mode``) so every question is a model
call. The hosted backend is ``openai:gpt-4o-mini`` against ``tests/llm_server.py`` with
``--delay`` seconds per call (the SDK reaches it through ``OPENAI_BASE_URL``), priced from the
packaged price list. Prints wall time, output tokens per second, cost and the speed-up over
one process per question.

    .venv/bin/python bench/batch.py                          # 32 questions, both backends
    .venv/bin/python bench/batch.py --questions 2 --json     # a quick check

Targets (issue #15): ``--file`` on the local model >= 3x faster than 32 processes; hosted at
concurrency 8 >= 5x faster than sequential (one process per question).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from llm_server import FakeProvider, Reply  # noqa: E402

from rag import RAG, Answer, load_settings  # noqa: E402

RAG_BIN = str(Path(sys.executable).with_name("rag"))
COLLECTION = "benchbatch"
HOSTED = "openai:gpt-4o-mini"


def questions(n: int) -> list[str]:
    lines = (REPO / "evals" / "data" / "en" / "queries.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines[:n]]


def ingest(data: Path) -> None:
    """The evals/data/en corpus, one file per document, into ``COLLECTION``."""
    docs = data.parent / "docs"
    docs.mkdir()
    for line in (REPO / "evals" / "data" / "en" / "corpus.jsonl").read_text().splitlines():
        doc = json.loads(line)
        (docs / f"{doc['id']}.md").write_text(doc["text"] + "\n")
    with RAG(data_dir=data, collection=COLLECTION) as r:
        r.ingest(docs)


def totals(usages: list[dict[str, Any]], seconds: float, failed: int) -> dict[str, Any]:
    out_tokens = sum(int(u["output_tokens"]) for u in usages)
    costs = [u.get("cost") for u in usages]
    cost = None if any(c is None for c in costs) else str(sum(Decimal(str(c)) for c in costs))
    return {
        "seconds": round(seconds, 2),
        "output_tokens": out_tokens,
        "tokens_per_s": round(out_tokens / seconds, 1) if seconds else 0.0,
        "cost_usd": cost,
        "failed": failed,
    }


def by_process(qs: list[str], args: list[str], env: dict[str, str]) -> dict[str, Any]:
    usages, failed = [], 0
    started = time.perf_counter()
    for q in qs:
        done = subprocess.run(
            [RAG_BIN, "ask", q, "--json", *args], env=env, capture_output=True, text=True
        )
        if done.returncode == 0:
            usages.append(json.loads(done.stdout)["usage"])
        else:
            failed += 1
    return totals(usages, time.perf_counter() - started, failed)


def by_file(
    qs: list[str], args: list[str], env: dict[str, str], concurrency: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        qfile, out = Path(tmp) / "q.txt", Path(tmp) / "a.jsonl"
        qfile.write_text("\n".join(qs) + "\n")
        started = time.perf_counter()
        subprocess.run(
            [RAG_BIN, "ask", "--file", str(qfile), "--jsonl", str(out), "--concurrency",
             str(concurrency), *args],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    usages = [x["usage"] for x in lines if "usage" in x]
    return totals(usages, seconds, len(qs) - len(usages))


def by_ask_many(qs: list[str], settings: dict[str, Any], concurrency: int) -> dict[str, Any]:
    started = time.perf_counter()
    with RAG(load_settings(None, **settings)) as r:
        results = r.ask_many(qs, concurrency=concurrency)
    usages = [a.usage.model_dump(mode="json") for a in results if isinstance(a, Answer)]
    for failure in (a for a in results if not isinstance(a, Answer)):
        print(f"ask_many: {failure.question!r} failed: {failure.message}", file=sys.stderr)
    return totals(usages, time.perf_counter() - started, len(qs) - len(usages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--backend", choices=["local", "hosted", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.2, help="hosted: seconds per call")
    parser.add_argument("--answer-mode", default="generative")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    qs = questions(opts.questions)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as server:
        server.default = Reply(text="It is in the sources [1].", delay_s=opts.delay)
        data = Path(tmp) / "data"
        ingest(data)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env.update(
            RAG_DATA_DIR=str(data),
            RAG_COLLECTION=COLLECTION,
            RAG_ANSWER_MODE=opts.answer_mode,
            RAG_MAX_TOKENS=str(opts.max_tokens),
            OPENAI_API_KEY="sk-bench",
            OPENAI_BASE_URL=server.openai_url,
        )
        os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=server.openai_url)
        backends = ["local", "hosted"] if opts.backend == "both" else [opts.backend]
        for backend in backends:
            spec = "local" if backend == "local" else HOSTED
            args = ["--llm", spec]
            settings = {
                "data_dir": data,
                "collection": COLLECTION,
                "answer_mode": opts.answer_mode,
                "max_tokens": opts.max_tokens,
                "llm": spec,
            }
            runs = {
                "rag ask x N (processes)": by_process(qs, args, env),
                f"rag ask --file --concurrency {opts.concurrency}": by_file(
                    qs, args, env, opts.concurrency
                ),
                f"ask_many(concurrency={opts.concurrency})": by_ask_many(
                    qs, settings, opts.concurrency
                ),
            }
            base = runs["rag ask x N (processes)"]["seconds"]
            for how, row in runs.items():
                speedup = round(base / row["seconds"], 2) if row["seconds"] else None
                rows.append({"backend": backend, "how": how, **row, "speedup": speedup})
    if opts.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{len(qs)} questions, answer_mode {opts.answer_mode}, hosted delay {opts.delay} s")
    print(f"{'backend':8} {'how':36} {'s':>8} {'tok/s':>8} {'cost $':>12} {'fail':>5} {'x':>6}")
    for row in rows:
        print(
            f"{row['backend']:8} {row['how']:36} {row['seconds']:8.2f} {row['tokens_per_s']:8.1f}"
            f" {row['cost_usd'] or 'unknown':>12} {row['failed']:5d} {row['speedup'] or 0:6.2f}"
        )


if __name__ == "__main__":
    main()
