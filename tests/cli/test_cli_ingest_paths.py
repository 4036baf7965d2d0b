"""`rag ingest` and paths (#12): the --allow-root flag and setting, the "excluded, kept" count."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.cli.ingest import print_report
from rag.config import Settings
from rag.types import IngestReport

runner = CliRunner()


def test_ingest_help_offers_allow_root() -> None:
    result = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--allow-root" in result.output


def test_allow_roots_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAG_ALLOW_ROOTS", f'["{tmp_path}"]')
    assert Settings().allow_roots == [tmp_path]
    monkeypatch.delenv("RAG_ALLOW_ROOTS")
    assert Settings().allow_roots == []


def test_summary_shows_files_excluded_and_kept(capsys: pytest.CaptureFixture[str]) -> None:
    print_report(IngestReport(collection="docs", files_seen=2, files_excluded_kept=3))
    assert "3 excluded, kept" in capsys.readouterr().out
    print_report(IngestReport(collection="docs", files_seen=2))
    assert "excluded" not in capsys.readouterr().out
