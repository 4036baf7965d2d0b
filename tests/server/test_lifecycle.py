"""``rag serve`` as a process: keys added by the CLI, refusing an open public bind, and a
SIGTERM while an answer streams (the stream ends well, the process exits 0, nothing is left
half ingested)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from conftest import BASE_TOML, server_env, start_server
from sse import parse_events

from rag.cli.exit_codes import EXIT_USAGE

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DOC = "\n\n".join(
    f"## Part {i}\n\nSection {i} of the manual explains valve number {i} and its torque."
    for i in range(200)
)


def rag_cli(root: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        cwd=root,
        env=server_env(root, cache),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_public_bind_without_keys_is_refused(tmp_path: Path, model_cache_dir: Path) -> None:
    (tmp_path / "rag.toml").write_text(BASE_TOML)
    done = rag_cli(tmp_path, model_cache_dir, "serve", "--host", "0.0.0.0", "--port", "1")
    assert done.returncode == EXIT_USAGE
    assert "rag serve keys add" in done.stderr and "0.0.0.0" in done.stderr


def test_keys_add_then_sigterm_while_streaming(tmp_path: Path, model_cache_dir: Path) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text("# my settings\n" + BASE_TOML)
    added = rag_cli(tmp_path, model_cache_dir, "serve", "keys", "add", "acme")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert key and key not in toml.read_text()
    assert toml.read_text().startswith("# my settings\n")
    headers = {"Authorization": f"Bearer {key}"}

    server = start_server(tmp_path, model_cache_dir)
    try:
        url = f"{server.url}/v1/collections/manual"
        up = httpx.post(
            f"{url}/documents",
            headers=headers,
            timeout=120,
            json={"documents": [{"source": "manual.md", "text": DOC}]},
        )
        assert up.status_code == 200, up.text
        events: list[tuple[str, object]] = []
        opened = threading.Event()

        def stream() -> None:
            with httpx.stream(
                "POST",
                f"{url}/ask",
                params={"stream": "true"},
                headers=headers,
                timeout=60,
                json={"question": "What torque does valve 7 need?"},
            ) as r:
                lines = []
                for line in r.iter_lines():
                    opened.set()
                    lines.append(line)
                events.extend(parse_events(lines))

        reader = threading.Thread(target=stream)
        reader.start()
        assert opened.wait(30)
        server.proc.send_signal(signal.SIGTERM)
        reader.join(60)
        assert server.proc.wait(60) == 0, server.log()
    finally:
        server.stop(signal.SIGKILL)
    names = [n for n, _ in events]
    assert names[0] == "sources" and names[-1] in ("final", "error"), names

    again = start_server(tmp_path, model_cache_dir)
    try:
        r = httpx.post(
            f"{again.url}/v1/collections/manual/documents",
            headers=headers,
            timeout=120,
            json={"documents": [{"source": "manual.md", "text": DOC}]},
        )
        assert r.json()["files_unchanged"] == 1, r.text
    finally:
        again.stop()
