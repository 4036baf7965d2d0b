"""End to end with every real part: sentence-transformers, Chroma on disk, llama.cpp, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from rag.api import RAG
from rag.cli import app
from rag.costs.calllog import CallLog
from rag.stores.chroma import ChromaStore

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_library_ingest_and_ask_offline(
    tmp_path: Path, examples_dir: Path, st_embedder, local_llm
) -> None:  # type: ignore[no-untyped-def]
    r = RAG(
        store=ChromaStore("examples", path=tmp_path / "chroma"),
        embedder=st_embedder,
        llm=local_llm,
        data_dir=tmp_path,
    )
    report = r.ingest(examples_dir)
    assert report.ok and report.files_new >= 5 and report.chunks_written > 5
    again = r.ingest(examples_dir)
    assert again.chunks_embedded == 0 and again.files_unchanged == report.files_new

    hits = r.retrieve("How do I switch to pgvector?")
    assert Path(hits[0].chunk.source).name == "stores.md"
    # the packaged 135M model is below the size auto lets write: extractive, no model call
    answer = r.ask("How do I switch to pgvector?")
    assert answer.mode == "extractive" and answer.usage.backend == "extractive"
    assert "--store pgvector" in answer.text and answer.grounded == 1.0
    assert answer.cited and all(Path(c.source).name == "stores.md" for c in answer.cited)
    # generative on request: the model writes, every sentence is checked
    writer = RAG(
        store=ChromaStore("examples", path=tmp_path / "chroma"),
        embedder=st_embedder,
        llm=local_llm,
        data_dir=tmp_path,
        answer_mode="generative",
    )
    written = writer.ask("How do I switch to pgvector?")
    assert written.text.strip() and written.mode == "generative"
    assert written.citations and Path(written.citations[0].source).name == "stores.md"
    assert written.usage.backend == "local" and written.usage.output_tokens > 0
    assert written.usage.input_tokens > 50 and written.usage.cost == 0
    assert written.abstained or (written.sentences and written.grounded is not None)
    logged = CallLog(tmp_path / "calls.db").calls()
    assert [c.backend for c in logged] == ["extractive", "local"]
    assert logged[1].model == written.usage.model
    assert logged[1].output_tokens == written.usage.output_tokens


def test_korean_question_finds_the_korean_document(
    tmp_path: Path, examples_dir: Path, st_embedder
) -> None:  # type: ignore[no-untyped-def]
    r = RAG(store=ChromaStore("exa", path=tmp_path / "c"), embedder=st_embedder, data_dir=tmp_path)
    r.ingest(examples_dir)
    ko = [h for h in r.retrieve("한국어 검색은 어떻게 동작하나요?", k=3)]
    assert any(h.chunk.metadata.get("lang") == "ko" for h in ko)


def run_cli(*args: str, data_dir: Path) -> Result:
    """The real CLI in-process (same code path as the `rag` script; models load per command)."""
    return CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])


def test_cli_ingest_ask_json_stream_and_show_prompt(tmp_path: Path, examples_dir: Path) -> None:
    data = tmp_path / "data"
    ingest = run_cli("ingest", str(examples_dir), "--collection", "exa", data_dir=data)
    assert ingest.exit_code == 0, ingest.output
    assert "6 new" in ingest.stdout and "embedded" in ingest.stdout
    again = run_cli("ingest", str(examples_dir), "--collection", "exa", data_dir=data)
    assert again.exit_code == 0 and "6 unchanged" in again.stdout and "0 embedded" in again.stdout

    asked = run_cli(
        "ask", "How do I switch to pgvector?", "--collection", "exa", "--json", data_dir=data
    )
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["answer"] and answer["citations"][0]["path"].endswith("stores.md")
    assert answer["usage"]["backend"] == "extractive" and answer["usage"]["cost"] == "0"
    assert answer["mode"] == "extractive" and answer["grounded"] == 1.0

    shown = run_cli(
        "ask",
        "What does rag log?",
        "--collection",
        "exa",
        "--show-prompt",
        "--answer-mode",
        "generative",
        data_dir=data,
    )
    assert shown.exit_code == 0, shown.output
    assert "--- prompt sent to local:" in shown.stdout
    assert "Question: What does rag log?" in shown.stdout
    assert "usage: local:" in shown.stdout and "[1] " in shown.stdout

    streamed = run_cli(
        "ask",
        "What is rag?",
        "--collection",
        "exa",
        "--stream",
        "--answer-mode",
        "generative",
        data_dir=data,
    )
    assert streamed.exit_code == 0, streamed.output
    assert "usage: local:" in streamed.stdout and "Sources" in streamed.stdout

    empty = run_cli("ask", "anything", "--collection", "nothing-here", data_dir=data)
    assert empty.exit_code == 2 and "rag ingest" in empty.stderr

    missing = run_cli(
        "ask", "x", "--collection", "exa", "--llm", "local:/no/such/model.gguf", data_dir=data
    )
    assert missing.exit_code == 2
    assert "/no/such/model.gguf" in missing.stderr and "gguf_path" in missing.stderr


def test_llm_given_as_a_backend_spec_is_the_llm_setting() -> None:
    """``RAG(llm="openai:MODEL")`` names a backend like ``--llm`` (it used to be taken for an
    LLM object and every question failed with "'str' object has no attribute ...")."""
    from rag.config import load_settings

    r = RAG(store="memory", llm="openai:gpt-4o-mini")
    assert r.settings.llm == "openai:gpt-4o-mini" and r._llm is None
    s = RAG(load_settings(store="memory"), llm="local")
    assert s.settings.llm == "local" and s.settings.store == "memory"
