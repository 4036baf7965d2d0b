"""Two ``rag serve`` replicas on one shared PostgreSQL call log (``RAG_CALL_LOG_DSN``) hold a
tenant's daily budget together: 40 concurrent asks spread over both, against a loopback
OpenAI-compatible LLM with a fixed cost per call and a budget of exactly 25 calls -> exactly
25 answers, 15 ``429 budget_exceeded``, and ``rag costs`` shows 25 calls.

Each generation's cost is held (prompt tokens + ``max_tokens`` at the model's price) before the
LLM is called and settled after; the price list makes the estimate equal the real cost (input
free, ``max_tokens`` = the 9 output tokens the loopback server reports), so the count is exact.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from conftest import Server, server_env, start_server
from llm_server import FakeProvider, Reply

from rag.server.tenants import key_digest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

KEY = "key-acme-shared-budget-0123"
CALLS = 25
OUTPUT_TOKENS = 9
PRICE_PER_MILLION = 1000  # -> $0.009 per call
PER_CALL = Decimal(OUTPUT_TOKENS * PRICE_PER_MILLION) / 1_000_000
DOC = {
    "documents": [{"source": "paris.md", "text": "# Paris\n\nParis is the capital of France.\n"}]
}


def replica_toml(llm_url: str) -> str:
    budget = PER_CALL * CALLS
    return (
        'answer_mode = "generative"\ncheck_answers = false\nstore = "memory"\n'
        f'llm = "openai-compatible:{llm_url}#budget-model"\n'
        f"max_tokens = {OUTPUT_TOKENS}\n"
        'price_file = "prices.toml"\n'
        "\n[server]\nexecutor_threads = 4\n"
        '\n[[server.tenants]]\nname = "acme"\n'
        f'key_sha256 = ["{key_digest(KEY)}"]\n'
        f"daily_budget_usd = {budget}\n"
    )


PRICES = (
    'version = "test"\n\n["openai-compatible"."budget-model"]\n'
    f"input = 0\noutput = {PRICE_PER_MILLION}\ncontext_window = 16000\n"
)


@pytest.fixture()
def replicas(
    tmp_path: Path, model_cache_dir: Path, pg_dsn: str
) -> Iterator[tuple[list[Server], FakeProvider, str]]:
    """A loopback LLM, a fresh database for the call log, and two servers sharing it."""
    import psycopg

    db = f"budget_{tmp_path.name.lower().replace('-', '_')[-20:]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        conn.execute(f'CREATE DATABASE "{db}"')
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{db}"
    with FakeProvider() as fake:
        fake.default = Reply(text="Paris is the capital of France [1].", output_tokens=9)
        servers: list[Server] = []
        try:
            for name in ("a", "b"):
                root = tmp_path / name
                root.mkdir()
                (root / "rag.toml").write_text(replica_toml(fake.openai_url))
                (root / "prices.toml").write_text(PRICES)
                servers.append(
                    start_server(
                        root, model_cache_dir, extra_env={"RAG_CALL_LOG_DSN": dsn}, timeout=120
                    )
                )
            yield servers, fake, dsn
        finally:
            for s in servers:
                s.stop(signal.SIGKILL)


def test_two_replicas_spend_a_shared_tenant_budget_exactly(
    replicas: tuple[list[Server], FakeProvider, str],
) -> None:
    servers, fake, dsn = replicas
    auth = {"Authorization": f"Bearer {KEY}"}

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120, headers=auth) as client:
            for s in servers:  # a memory store each: the same document on both
                up = await client.post(f"{s.url}/v1/collections/docs/documents", json=DOC)
                assert up.status_code == 200, up.text
            asks = [
                client.post(
                    f"{servers[i % 2].url}/v1/collections/docs/ask",
                    json={"question": "What is the capital of France?"},
                )
                for i in range(40)
            ]
            return list(await asyncio.gather(*asks))

    responses = asyncio.run(run())
    codes = [r.status_code for r in responses]
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) == CALLS, (codes, [r.text for r in responses if r.status_code not in (200, 429)])
    assert len(refused) == 40 - CALLS, codes
    assert all(r.json()["error"]["type"] == "budget_exceeded" for r in refused)
    assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
    assert all(Decimal(r.json()["usage"]["cost"]) == PER_CALL for r in ok)
    assert len(fake.requests) == CALLS  # a refused ask never reached the LLM
    served = [sum(1 for r in responses[i::2] if r.status_code == 200) for i in (0, 1)]
    assert min(served) >= 5, served  # 20 asks each: both replicas answered some
    # `rag costs` (another process, the same shared log) shows exactly the 25 calls
    env = server_env(servers[0].root, Path(servers[0].env["RAG_CACHE_DIR"]))
    env["RAG_CALL_LOG_DSN"] = dsn
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "costs", "--json"],
        cwd=servers[0].root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    total = json.loads(out.stdout)["total"]
    assert total["calls"] == CALLS
    assert Decimal(str(total["cost"])) == PER_CALL * CALLS
