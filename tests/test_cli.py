"""CLI behaviour that needs no model: help, imports, usage errors, exit codes, config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from rag.cli import app

runner = CliRunner()


def test_help_imports_no_heavy_dependency() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rag.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'sentence_transformers', 'openai', 'anthropic', 'psycopg') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "ask", "config"):
        assert command in result.output


def test_ingest_missing_path_is_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_wrong_config_type_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "rag.toml").write_text('top_k = "many"\n')
    result = runner.invoke(app, ["config", "--config", str(tmp_path / "rag.toml")])
    assert result.exit_code == 2
    assert "top_k" in result.output and "'many'" in result.output


def test_where_without_equals_is_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ask", "q", "--where", "lang"])
    assert result.exit_code == 2 and "FIELD=VALUE" in result.output


def test_config_masks_the_database_password(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAG_PG_DSN", "postgresql://alice:s3cret@db:5432/rag")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    assert "s3cret" not in result.output and "postgresql://alice:***@db:5432/rag" in result.output


def test_where_source_glob_and_numbers(tmp_path: Path) -> None:
    from rag.api import RAG
    from rag.chunking import TokenChunker
    from rag.cli import _parse_where
    from rag.errors import ConfigError
    from rag.stores.memory import MemoryStore
    from rag.testing import FakeEmbedder, ScriptedLLM

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nalpha text")
    (tmp_path / "docs" / "b.txt").write_text("beta text")
    e = FakeEmbedder()
    r = RAG(
        store=MemoryStore("d"),
        embedder=e,
        llm=ScriptedLLM(),
        chunker=TokenChunker(e.tokenizer, 50, 5),
    )
    r.ingest(tmp_path / "docs")
    filters = _parse_where([f"source={tmp_path}/docs/*.md", "page=3"], r)
    assert filters == {"source": [str(tmp_path / "docs" / "a.md")], "page": ["3", 3]}
    hits = r.retrieve("text", filters={"source": filters["source"]})
    assert {h.chunk.source for h in hits} == {str(tmp_path / "docs" / "a.md")}
    import pytest

    with pytest.raises(ConfigError, match="no ingested file matches"):
        _parse_where(["source=*.pdf"], r)
