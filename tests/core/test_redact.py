"""Secrets never shown or stored (issue #12, case 7): one redaction function (``rag.redact``)
for every DSN and URL form, used by ``rag config``, error messages, the server's log and the
call log. Each test feeds the secret through the real path and greps everything it printed
or wrote."""

from __future__ import annotations

import logging
import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.redact import MASK, redact, redact_data

runner = CliRunner()
SECRET = "Zq9sEcReT"

# (text holding SECRET, what must stay visible)
FORMS = [
    (
        f"postgresql://alice:{SECRET}@db.example:5432/rag",
        "postgresql://alice:***@db.example:5432/rag",
    ),
    (f"postgresql://alice:AT@{SECRET}@db:5432/rag", "postgresql://alice:***@db:5432/rag"),
    (f"postgresql://alice:a/b:{SECRET}@db/rag", "postgresql://alice:***@db/rag"),
    (f"postgresql://:{SECRET}@db/rag", "postgresql://:***@db/rag"),
    (f"host=db port=5432 user=alice password={SECRET} dbname=rag", "user=alice password=***"),
    (f"host=db password='{SECRET} with space' dbname=rag", "password=*** dbname=rag"),
    (f"postgresql://alice@db/rag?sslpassword={SECRET}&sslmode=require", "sslpassword=***&sslmode"),
    (f"http://bob:{SECRET}@127.0.0.1:8080/v1", "http://bob:***@127.0.0.1:8080/v1"),
    (f"https://bob:{SECRET}@chroma.internal:8000", "https://bob:***@chroma.internal:8000"),
    (f"Authorization: Bearer rag-{SECRET}abcdef", "Bearer ***"),
    (f"OPENAI_API_KEY=sk-proj-{SECRET}abcdefghij", "OPENAI_API_KEY="),
]


@pytest.mark.parametrize(("text", "kept"), FORMS)
def test_every_form_is_masked_and_the_rest_kept(text: str, kept: str) -> None:
    out = redact(text)
    assert SECRET not in out and MASK in out
    assert kept in out
    assert redact(out) == out  # idempotent


def test_text_without_secrets_is_unchanged() -> None:
    for text in (
        "postgresql://alice@db:5432/rag",
        "http://127.0.0.1:8000/v1",
        "see https://example.com/a:b/c",
        "password policy: none",
        "",
    ):
        assert redact(text) == text
    assert redact_data({"a": [f"x password={SECRET}"], "n": 3}) == {"a": ["x password=***"], "n": 3}


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("RAG_PG_DSN", FORMS[1][0]),
        ("RAG_PG_DSN", FORMS[4][0]),
        ("RAG_PG_DSN", FORMS[3][0]),
        ("RAG_CHROMA_URL", FORMS[8][0]),
        ("RAG_LLM", f"openai-compatible:{FORMS[7][0]}#m"),
    ],
)
def test_rag_config_prints_no_secret(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and MASK in result.output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket closes


def _grep_tree(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def test_hosted_error_and_call_log_hold_no_url_password(tmp_path: Path) -> None:
    """An OpenAI-compatible URL with ``user:pass@`` that cannot be reached: the error names
    the server without the password, and nothing under the data dir holds it."""
    from rag.api import RAG
    from rag.config import load_settings
    from rag.errors import LLMError
    from rag.stores.memory import MemoryStore
    from rag.testing import FakeEmbedder

    url = f"http://bob:{SECRET}@127.0.0.1:{_closed_port()}/v1"
    settings = load_settings(
        data_dir=tmp_path / "data", answer_mode="generative", llm=f"openai-compatible:{url}#m"
    )
    r = RAG(settings, store=MemoryStore("s"), embedder=FakeEmbedder())
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe marmot sleeps in winter.\n")
    r.ingest(docs)
    with pytest.raises(LLMError) as info:
        r.ask("When does the marmot sleep?")
    message = str(info.value)
    assert SECRET not in message and "127.0.0.1" in message
    r.close()
    rows = sqlite3.connect(tmp_path / "data" / "calls.db").execute("SELECT * FROM calls").fetchall()
    assert rows and SECRET not in repr(rows)
    assert _grep_tree(tmp_path / "data") == []


def test_openai_connection_error_names_the_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rag.llms.openai import OpenAIProvider

    url = f"http://bob:{SECRET}@127.0.0.1:9/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    provider = OpenAIProvider.openai(api_key="sk-test-key-0123456789abcdef")
    assert provider.where == "http://bob:***@127.0.0.1:9/v1"


def test_cli_errors_hold_no_dsn_password(tmp_path: Path) -> None:
    """A pgvector DSN with a password that cannot connect, in URL and key=value forms."""
    port = _closed_port()
    for dsn in (
        f"postgresql://alice:{SECRET}@127.0.0.1:{port}/rag",
        f"host=127.0.0.1 port={port} user=alice password={SECRET} dbname=rag",
    ):
        (tmp_path / "docs").mkdir(exist_ok=True)
        (tmp_path / "docs" / "a.md").write_text("# A\n\nmarmot\n")
        result = runner.invoke(
            app,
            ["ingest", str(tmp_path / "docs"), "--store", "pgvector", "--dsn", dsn],
            env={"RAG_DATA_DIR": str(tmp_path / "data")},
        )
        assert result.exit_code != 0
        assert SECRET not in result.output, result.output
        assert "127.0.0.1" in result.output
    assert _grep_tree(tmp_path) == []


def test_server_log_masks_secrets(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("fastapi")
    from rag.server.errors import log

    with caplog.at_level(logging.WARNING, logger="rag.server"):
        try:
            raise RuntimeError(f"cannot reach postgresql://u:{SECRET}@db/rag")
        except RuntimeError as exc:
            log.error("backend failure: %s", f"password={SECRET}", exc_info=exc)
    text = caplog.text
    assert "backend failure" in text and SECRET not in text
