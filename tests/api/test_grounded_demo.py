"""`make demo` with the real default stack: the packaged SmolLM2-135M, the ONNX embedder and
embedded Chroma, through the CLI as a user runs it. The answer must be right, cited and
grounded (issue #20): the offline default answers extractively, from examples/stores.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]
EXAMPLES = Path(__file__).parents[2] / "examples"


def rag_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir)}
    env.pop("RAG_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo")
    done = rag_cli(data, "ingest", str(EXAMPLES), "--collection", "examples")
    assert done.returncode == 0, done.stderr
    return data


def ask_json(data: Path, question: str) -> dict[str, Any]:
    done = rag_cli(data, "ask", question, "--collection", "examples", "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_demo_question_is_answered_from_stores_md(ingested: Path) -> None:
    got = ask_json(ingested, "How do I switch to pgvector?")
    assert got["mode"] == "extractive" and got["usage"]["backend"] == "extractive"
    assert "--store pgvector" in got["answer"]
    cited = [c for c in got["citations"] if c["cited"]]
    assert cited and all(c["path"].endswith("stores.md") for c in cited)
    assert got["grounded"] == 1.0 and not got["abstained"]
    assert all(s["supported"] for s in got["sentences"])
    numbers = {c["number"] for c in cited}
    assert all(set(s["citations"]) <= numbers for s in got["sentences"])


def test_korean_question_gets_a_korean_answer_copied_from_the_source(ingested: Path) -> None:
    got = ask_json(ingested, "오래된 한국어 파일은 어떤 인코딩으로 저장돼 있나요?")
    assert "CP949" in got["answer"] and "[" in got["answer"]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in got["answer"])
    source = (EXAMPLES / "korean.md").read_text(encoding="utf-8")
    flat = " ".join(source.split())
    for sentence in got["sentences"]:
        text = sentence["text"].rsplit(" [", 1)[0].rstrip(".")
        assert text.split()[0] in flat  # copied, not written


def test_question_the_examples_do_not_answer_is_declined(ingested: Path) -> None:
    got = ask_json(ingested, "What is the boiling point of liquid nitrogen?")
    assert got["abstained"] and got["answer"] == "The sources do not say."
    assert got["abstain_reason"]  # why, in words the reader can check
    declined = rag_cli(
        ingested, "ask", "What is the boiling point of liquid nitrogen?", "--collection", "examples"
    )
    assert declined.returncode == 0 and f"(why: {got['abstain_reason']})" in declined.stdout
    human = rag_cli(ingested, "ask", "How do I switch to pgvector?", "--collection", "examples")
    assert human.returncode == 0 and "stores.md" in human.stdout and "*[" in human.stdout
