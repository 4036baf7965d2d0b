"""What tracing costs: ``RAG.ask`` and ``RAG.retrieve`` latency with tracing off, on, and with
OpenTelemetry not installed at all.

Each mode runs in a process of its own over the same synthetic corpus (memory store, the
in-process BM25 index, hybrid retrieval; ``rag.testing``'s embedder and scripted LLM by default,
so the seam's cost is not hidden behind a model; ``--embedder onnx`` uses the packaged model):

- ``not-installed``: every ``opentelemetry`` import fails (as without the ``otel`` extra);
- ``off``: installed, tracing off (no setting, no endpoint): the default;
- ``on``: tracing on with the real SDK, spans batched to an exporter that drops them (the
  SDK's work without a network; ``--export otlp`` sends them to a loopback collector).

It prints per mode the median and p95 of each call and the median's difference from
``not-installed``. Target: ``off`` within noise of ``not-installed``.

    .venv/bin/python bench/tracing_overhead.py                   # 300 docs, 300 queries
    .venv/bin/python bench/tracing_overhead.py --docs 2000 --queries 1000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODES = ("not-installed", "off", "on")

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
    "predator",
    "eagle",
    "fox",
    "summer",
    "spring",
    "den",
    "tunnel",
    "soil",
    "root",
    "seed",
    "flower",
    "valley",
    "ridge",
    "snow",
    "rock",
]


def words_of(i: int) -> list[str]:
    return [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(60)]


def corpus(folder: Path, docs: int) -> None:
    """``docs`` small markdown files of the words above."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(docs):
        (folder / f"doc{i:05}.md").write_text(f"# Doc {i}\n\n" + " ".join(words_of(i)) + ".\n")


def question(i: int) -> str:
    words = words_of(i)
    return f"What about the {words[0]} and the {words[5]} of doc {i}?"


def _block_opentelemetry() -> None:
    import importlib.abc

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, *args: Any, **kwargs: Any) -> None:
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the benchmark)")
            return None

    sys.meta_path.insert(0, Blocker())


def _drop_exporter() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return Drop()


def worker(mode: str, folder: Path, queries: int, embedder_name: str) -> dict[str, Any]:
    """(In the mode's own process) ingest, warm up, then time ``queries`` asks and retrieves."""
    if mode == "not-installed":
        _block_opentelemetry()
    if mode == "on" and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from rag import tracing

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(_drop_exporter()))
        tracing.enable(provider)
    from rag.api import RAG
    from rag.stores.memory import MemoryStore
    from rag.testing import FakeEmbedder, ScriptedLLM, echo_question

    embedder: Any = FakeEmbedder(dimension=256) if embedder_name == "fake" else None
    r = RAG(
        store=MemoryStore("bench"),
        embedder=embedder,
        llm=ScriptedLLM(reply=echo_question),
        data_dir=folder.parent / f"data-{mode}",
        answer_mode="generative",
        tracing=mode == "on",
    )
    r.ingest(folder)
    texts = [question(i) for i in range(len(list(folder.iterdir())))]
    for q in texts[: max(5, queries // 10)]:  # warm up
        r.ask(q)
    ask: list[float] = []
    retrieve: list[float] = []
    for i in range(queries):
        q = texts[i % len(texts)]
        started = time.perf_counter()
        r.ask(q)
        ask.append(time.perf_counter() - started)
        started = time.perf_counter()
        r.retrieve(q)
        retrieve.append(time.perf_counter() - started)
    loaded = any(m.startswith("opentelemetry") for m in sys.modules)
    r.close()
    return {"mode": mode, "ask": ask, "retrieve": retrieve, "opentelemetry_loaded": loaded}


def p(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--embedder", choices=["fake", "onnx"], default="fake")
    parser.add_argument("--export", choices=["drop", "otlp"], default="drop")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.folder, args.queries, args.embedder)))
        return
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        corpus(folder, args.docs)
        for mode in MODES:
            env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
            if mode == "on" and args.export == "otlp":
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
            command = [sys.executable, __file__, "--worker", mode, "--folder", str(folder)]
            command += ["--queries", str(args.queries), "--embedder", args.embedder]
            out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    base = {k: statistics.median(results["not-installed"][k]) for k in ("ask", "retrieve")}
    rows = []
    for mode in MODES:
        r = results[mode]
        row: dict[str, Any] = {"mode": mode, "opentelemetry_loaded": r["opentelemetry_loaded"]}
        for k in ("ask", "retrieve"):
            med = statistics.median(r[k])
            row[f"{k}_p50_ms"] = med * 1e3
            row[f"{k}_p95_ms"] = p(r[k], 95) * 1e3
            row[f"{k}_added_us"] = (med - base[k]) * 1e6
        rows.append(row)
    if args.json:
        print(json.dumps({"docs": args.docs, "queries": args.queries, "rows": rows}, indent=2))
        return
    print(f"tracing overhead: {args.docs} docs, {args.queries} queries, {args.embedder} embedder")
    print(
        f"{'mode':<14} {'ask p50 ms':>11} {'ask p95 ms':>11} {'ask +us':>8} "
        f"{'retr p50 ms':>12} {'retr p95 ms':>12} {'retr +us':>9}  otel loaded"
    )
    for row in rows:
        print(
            f"{row['mode']:<14} {row['ask_p50_ms']:>11.3f} {row['ask_p95_ms']:>11.3f} "
            f"{row['ask_added_us']:>8.1f} {row['retrieve_p50_ms']:>12.3f} "
            f"{row['retrieve_p95_ms']:>12.3f} {row['retrieve_added_us']:>9.1f}  "
            f"{row['opentelemetry_loaded']}"
        )


if __name__ == "__main__":
    main()
