"""What ``rag serve`` adds over calling ``RAG.ask`` in-process, under load.

Builds a collection of about 10,000 chunks through the server's own upload API, with a
loopback LLM server that answers instantly (``tests/llm_server.py``, the OpenAI wire format),
then drives ``rag serve`` with 1/8/32/64 concurrent clients for ``--seconds`` each, on the
native ``POST /v1/collections/{name}/ask`` and on the OpenAI-compatible
``POST /v1/chat/completions``. Prints requests/s, p50/p95/p99 latency, errors and the server's
RSS; then stops the server and asks the same questions in-process through ``RAG.ask`` on the
same store, so the server's own overhead per ask is a difference of medians at one client.

    .venv/bin/python bench/serve.py                 # 60 s per run (about 10 minutes)
    .venv/bin/python bench/serve.py --seconds 10 --chunks 2000 --json

Targets (2-core machine): 0 errors at 64 clients; p50 overhead over in-process <= 3 ms; server
RSS after the run within 10% of its RSS after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llm_server import FakeProvider, Reply

from rag.server.serve import free_port

_VOCABULARY = """cache index shard replica vector token budget latency tenant upload stream citation
schema router backend quota window embedding chunk manifest ledger snapshot compaction checksum
partition retry timeout cursor lease heartbeat journal segment bloom filter"""
WORDS = _VOCABULARY.split()
QUESTIONS = [
    f"How does the {a} {b} handle a {c}?"
    for a, b, c in zip(WORDS, WORDS[3:], WORDS[7:], strict=False)
]


def documents(chunks: int, per_doc: int = 25) -> list[dict[str, str]]:
    """Markdown documents of ``per_doc`` sections, each section about one chunk (~120 words)."""
    rng = random.Random(7)
    docs = []
    for d in range(max(1, chunks // per_doc)):
        sections = []
        for s in range(per_doc):
            words = " ".join(rng.choice(WORDS) for _ in range(120))
            sections.append(f"## Part {d}.{s}\n\n{words.capitalize()}.\n")
        docs.append(
            {"source": f"doc{d:05d}.md", "text": f"# Document {d}\n\n" + "\n".join(sections)}
        )
    return docs


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def drive(url: str, key: str, kind: str, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` tasks asking in a loop for ``seconds``: latencies (ms) and errors."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:

        async def one(i: int) -> None:
            n = i
            while time.monotonic() < stop:
                q = QUESTIONS[n % len(QUESTIONS)]
                n += clients
                t = time.perf_counter()
                try:
                    if kind == "native":
                        r = await c.post("/v1/collections/bench/ask", json={"question": q})
                    else:
                        r = await c.post(
                            "/v1/chat/completions",
                            json={"model": "bench", "messages": [{"role": "user", "content": q}]},
                        )
                    ok = r.status_code == 200
                    reason = str(r.status_code)
                except httpx.HTTPError as exc:
                    ok, reason = False, type(exc).__name__
                if ok:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors[reason] = errors.get(reason, 0) + 1

        await asyncio.gather(*(one(i) for i in range(clients)))
    return {
        "kind": kind,
        "clients": clients,
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def start_server(home: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=home,
        env={**os.environ, "RAG_CONFIG": str(home / "rag.toml")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("rag serve did not start within 120 s")


def in_process(home: Path, collection: str, n: int) -> list[float]:
    """``RAG.ask`` on the same store, settings and LLM server: latencies in ms."""
    from rag import RAG
    from rag.config import load_settings

    settings = load_settings(home / "rag.toml", collection=collection)
    out = []
    with RAG(settings) as r:
        for q in QUESTIONS[:5]:
            r.ask(q)  # warm up
        for i in range(n):
            t = time.perf_counter()
            r.ask(QUESTIONS[i % len(QUESTIONS)])
            out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--clients", default="1,8,32,64")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from rag.server.catalog import store_name

    clients = [int(c) for c in args.clients.split(",")]
    key = "rag-" + secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as llm:
        llm.default = Reply(text="It retries after the timeout [1].", input_tokens=300)
        home = Path(tmp)
        (home / "rag.toml").write_text(
            f'data_dir = "{home / "data"}"\n'
            f'llm = "openai-compatible:{llm.openai_url}#bench"\n'
            'answer_mode = "generative"\n'
            '[[server.tenants]]\nname = "bench"\n'
            f'key_sha256 = ["{hashlib.sha256(key.encode()).hexdigest()}"]\n',
            encoding="utf-8",
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(home, port)
        try:
            t = time.perf_counter()
            docs = documents(args.chunks)
            chunks = 0
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
                for i in range(0, len(docs), 40):
                    r = c.post(
                        "/v1/collections/bench/documents",
                        json={"documents": docs[i : i + 40]},
                        timeout=600,
                    )
                    r.raise_for_status()
                    chunks += int(r.json()["chunks_written"])
            ingest_s = time.perf_counter() - t
            asyncio.run(drive(url, key, "native", 4, min(5.0, args.seconds)))  # warm up
            rss_warm = rss_mb(proc.pid)
            runs = []
            for kind in ("native", "openai"):
                for n in clients:
                    runs.append(asyncio.run(drive(url, key, kind, n, args.seconds)))
            rss_end = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
        local = in_process(home, store_name("bench", "bench"), max(50, len(QUESTIONS) * 4))
    base = next(r for r in runs if r["kind"] == "native" and r["clients"] == 1)
    result = {
        "chunks": chunks,
        "ingest_s": ingest_s,
        "runs": runs,
        "in_process_p50_ms": statistics.median(local),
        "overhead_p50_ms": base["p50_ms"] - statistics.median(local),
        "rss_warm_mb": rss_warm,
        "rss_end_mb": rss_end,
        "rss_growth": rss_end / rss_warm - 1,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{chunks} chunks ingested through the API in {ingest_s:.0f} s; {args.seconds:.0f} s per run"
    )
    print(
        f"{'endpoint':8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    for r in runs:
        print(
            f"{r['kind']:8} {r['clients']:7d} {r['rps']:8.1f} {r['p50_ms']:8.1f} "
            f"{r['p95_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:6d}"
        )
    print(
        f"in-process RAG.ask p50 {result['in_process_p50_ms']:.1f} ms; server overhead at 1 client "
        f"(p50 difference) {result['overhead_p50_ms']:.1f} ms"
    )
    print(
        f"server RSS {rss_warm:.0f} MB after warm-up, {rss_end:.0f} MB after the runs "
        f"({result['rss_growth']:+.1%})"
    )


if __name__ == "__main__":
    main()
