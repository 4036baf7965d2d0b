"""Overhead of rag's hosted-LLM layer over a direct SDK call, against the same local server.

For each provider (OpenAI chat completions, Anthropic messages; plain and streaming) it makes
N calls directly with the official SDK and N through rag (backend + RoutedLLM routing with a
budget + recording the usage in a SQLite call log), interleaved so both see the same server
and machine load, and prints the median latency of each and the median added latency per call.

    .venv/bin/python bench/llm_overhead.py            # N=300
    .venv/bin/python bench/llm_overhead.py -n 1000 --json

Target: under 1 ms added per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llm_server import FakeProvider, Reply

from rag.costs.calllog import CallLog
from rag.costs.pricing import load_prices
from rag.llms.anthropic import AnthropicLLM, AnthropicProvider
from rag.llms.base import LLM, Message
from rag.llms.openai import OpenAILLM, OpenAIProvider
from rag.llms.routing import Budget, RetryPolicy, RoutedLLM

MESSAGES = [
    Message(role="system", content="Answer from the numbered sources; cite them as [n]."),
    Message(role="user", content="Sources:\n[1] Paris is the capital of France.\n\nQ: capital?"),
]
RAW = [m.model_dump() for m in MESSAGES]


def _time(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(
    direct: Callable[[], object], via_rag: Callable[[], object], n: int
) -> dict[str, float]:
    for _ in range(max(10, n // 20)):  # warm up connections, imports, caches
        direct()
        via_rag()
    d: list[float] = []
    r: list[float] = []
    for i in range(n):
        if i % 2:
            d.append(_time(direct))
            r.append(_time(via_rag))
        else:
            r.append(_time(via_rag))
            d.append(_time(direct))
    diffs = [b - a for a, b in zip(d, r, strict=True)]
    return {
        "direct_p50_ms": statistics.median(d) * 1e3,
        "rag_p50_ms": statistics.median(r) * 1e3,
        "added_p50_ms": (statistics.median(r) - statistics.median(d)) * 1e3,
        "paired_added_p50_ms": statistics.median(diffs) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="calls per variant (default 300)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    import anthropic
    import openai

    prices = load_prices()
    results: dict[str, dict[str, float]] = {}
    with FakeProvider() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.default = Reply(text="Paris is the capital of France [1].", cached_tokens=16)
        log = CallLog(Path(tmp) / "calls.db")

        def routed(llm: LLM) -> RoutedLLM:
            return RoutedLLM(
                [("main", llm)],
                retry=RetryPolicy(attempts=2),
                budget=Budget(per_call_usd=Decimal("0.05")),
                prices=prices,
                max_tokens=64,
                call_log=log,
            )

        o_sdk: Any = openai.OpenAI(api_key="sk-bench", base_url=fake.openai_url, max_retries=0)
        o_rag = routed(
            OpenAILLM(
                "gpt-4o-mini",
                provider=OpenAIProvider.openai(api_key="sk-bench", base_url=fake.openai_url),
                max_tokens=64,
            )
        )
        a_sdk: Any = anthropic.Anthropic(
            api_key="sk-bench", base_url=fake.anthropic_url, max_retries=0
        )
        a_rag = routed(
            AnthropicLLM(
                "claude-haiku-4-5",
                provider=AnthropicProvider.official(
                    api_key="sk-bench", base_url=fake.anthropic_url
                ),
                max_tokens=64,
            )
        )

        def rag_complete(llm: RoutedLLM) -> Callable[[], object]:
            def call() -> None:
                done = llm.complete(MESSAGES)
                log.record(done.usage, collection="bench", question="capital?")

            return call

        def rag_stream(llm: RoutedLLM) -> Callable[[], object]:
            def call() -> None:
                for event in llm.stream(MESSAGES):
                    if event.completion is not None:
                        log.record(event.completion.usage, collection="bench")

            return call

        def o_direct() -> object:
            return o_sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=RAW,
                max_completion_tokens=64,
            )

        def o_direct_stream() -> object:
            stream = o_sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=RAW,
                max_completion_tokens=64,
                stream=True,
                stream_options={"include_usage": True},
            )
            return "".join((c.choices[0].delta.content or "") for c in stream if c.choices)

        system, user = RAW[0]["content"], RAW[1:]

        def a_direct() -> object:
            return a_sdk.messages.create(
                model="claude-haiku-4-5",
                max_tokens=64,
                system=system,
                messages=user,
            )

        def a_direct_stream() -> object:
            stream = a_sdk.messages.create(
                model="claude-haiku-4-5",
                max_tokens=64,
                system=system,
                messages=user,
                stream=True,
            )
            return "".join(
                e.delta.text
                for e in stream
                if e.type == "content_block_delta" and e.delta.type == "text_delta"
            )

        results["openai complete"] = measure(o_direct, rag_complete(o_rag), args.n)
        results["openai stream"] = measure(o_direct_stream, rag_stream(o_rag), args.n)
        results["anthropic complete"] = measure(a_direct, rag_complete(a_rag), args.n)
        results["anthropic stream"] = measure(a_direct_stream, rag_stream(a_rag), args.n)
        logged = len(log.calls())

    if args.json:
        print(json.dumps({"n": args.n, "results": results, "logged_calls": logged}, indent=2))
        return
    print(f"rag LLM layer overhead, {args.n} calls per variant (interleaved), local fake server")
    print(f"{'variant':<20}{'direct p50':>12}{'rag p50':>12}{'added p50':>12}{'paired':>10}")
    for name, r in results.items():
        print(
            f"{name:<20}{r['direct_p50_ms']:>10.3f}ms{r['rag_p50_ms']:>10.3f}ms"
            f"{r['added_p50_ms']:>10.3f}ms{r['paired_added_p50_ms']:>8.3f}ms"
        )
    print(f"(rag path includes routing with a budget check and call-log recording; {logged} rows)")


if __name__ == "__main__":
    main()
