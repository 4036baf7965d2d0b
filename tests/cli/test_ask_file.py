"""``rag ask --file``: one JSON line per question in the file's order, a failed question
reported in its line (exit 1) without stopping the others, the summary on stderr, and the
usage errors (no question, both, --jsonl without --file, an empty file)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rag.api import RAG
from rag.chunking import TokenChunker
from rag.cli import app
from rag.llms.base import Message
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM, echo_question

runner = CliRunner()


def reply(messages: Sequence[Message]) -> str:
    if "explode" in messages[-1].content:
        raise RuntimeError("the model fell over")
    return echo_question(messages)


@pytest.fixture()
def fake_rag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RAG:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nAlpha widgets are blue.\n")
    (docs / "b.md").write_text("# Beta\n\nBeta gadgets are red.\n")
    embedder = FakeEmbedder()
    r = RAG(
        store=MemoryStore("file"),
        embedder=embedder,
        llm=ScriptedLLM(reply=reply),
        chunker=TokenChunker(embedder.tokenizer, 60, 10),
        data_dir=tmp_path / "data",
        answer_mode="generative",
        check_answers=False,
        top_k=1,
    )
    r.ingest(docs)
    monkeypatch.setattr("rag.cli.ask.make_rag", lambda *a, **kw: r)
    return r


def test_file_to_jsonl_with_a_failing_question(tmp_path: Path, fake_rag: RAG) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text("What colour are alpha widgets?\n\nexplode beta?\nWhat about beta?\n")
    out = tmp_path / "answers.jsonl"
    result = runner.invoke(
        app, ["ask", "--file", str(questions), "--jsonl", str(out), "--concurrency", "2"]
    )
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert lines[0]["question"] == "What colour are alpha widgets?"
    assert lines[0]["citations"][0]["path"].endswith("a.md") and "usage" in lines[0]
    assert lines[1]["error"] == {"kind": "RuntimeError", "message": "the model fell over"}
    assert lines[2]["citations"][0]["path"].endswith("b.md")
    assert "2 answered, 1 failed" in result.output and "output tokens/s" in result.output
    assert "failed: [1] explode beta?: the model fell over" in result.output
    assert len(fake_rag.call_log.calls()) == 3, "every call is recorded, the failed one too"


def test_file_to_stdout(tmp_path: Path, fake_rag: RAG) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text("alpha?\nbeta?\n")
    result = runner.invoke(app, ["ask", "--file", str(questions)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    assert [x["question"] for x in lines] == ["alpha?", "beta?"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask"], "either a QUESTION or --file"),
        (["ask", "q", "--file", "{file}"], "either a QUESTION or --file"),
        (["ask", "q", "--jsonl", "x.jsonl"], "go with --file"),
        (["ask", "--file", "{empty}"], "no questions in it"),
        (["ask", "--file", "{missing}"], "cannot read it"),
    ],
)
def test_usage_errors(tmp_path: Path, fake_rag: Any, args: list[str], message: str) -> None:
    (tmp_path / "q.txt").write_text("a?\n")
    (tmp_path / "empty.txt").write_text("\n \n")
    paths = {
        "{file}": str(tmp_path / "q.txt"),
        "{empty}": str(tmp_path / "empty.txt"),
        "{missing}": str(tmp_path / "nope.txt"),
    }
    result = runner.invoke(app, [paths.get(a, a) for a in args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
