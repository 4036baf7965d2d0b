"""`rag ingest` and paths (#12): the --allow-root flag and setting, the "excluded, kept" count."""

from __future__ import annotations

import json
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


@pytest.mark.integration
def test_a_moved_folder_is_reported_moved_and_cited_from_its_new_root(tmp_path: Path) -> None:
    """`mv c d && rag ingest d`: the real CLI, embedder and Chroma store. The report says the
    files moved and nothing was embedded; citations carry the path relative to the new root."""
    c = tmp_path / "c"
    (c / "docs").mkdir(parents=True)
    (c / "a.md").write_text("# Marmots\n\nThe marmot whistles from its burrow.\n")
    (c / "docs" / "b.md").write_text("# Voles\n\nThe vole eats grass and roots.\n")
    first = runner.invoke(app, ["ingest", str(c)])
    assert first.exit_code == 0, first.output
    assert "2 new" in first.stdout
    d = tmp_path / "d"
    c.rename(d)
    moved = runner.invoke(app, ["ingest", str(d)])
    print(moved.stdout)  # the report, as the user sees it
    assert moved.exit_code == 0, moved.output
    assert "0 new" in moved.stdout and "2 moved (not re-embedded)" in moved.stdout
    assert "0 embedded" in moved.stdout and "0 removed" in moved.stdout
    again = runner.invoke(app, ["ingest", str(d), "--json"])
    report = json.loads(again.stdout)
    assert (report["files_unchanged"], report["files_moved"]) == (2, 0)
    asked = runner.invoke(app, ["ask", "What does the vole eat?", "--json"])
    assert asked.exit_code == 0, asked.output
    cited = json.loads(asked.stdout)["citations"][0]
    assert (cited["root"], cited["rel_path"]) == (str(d.resolve()), "docs/b.md")
    assert cited["source"] == str(d.resolve() / "docs" / "b.md")
