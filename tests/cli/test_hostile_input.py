"""Hostile input on the command line (issue #12, cases 8 and the "no traceback" rule): bytes
that are not UTF-8 in a question, Rich markup and emoji codes in user text, and internal
failures, each with the exit code of the table and no traceback unless ``--debug``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.cli.exit_codes import EXIT_INTERNAL, EXIT_PARTIAL, EXIT_USAGE

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder named ``d[/x]`` with a file ``:m: b.md``, ingested into a Chroma data dir."""
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "d[/x]"
    folder.mkdir(parents=True)  # "d[" holding "x]"
    (folder / ":m: b.md").write_text("# Marmots\n\nThe marmot lives in burrows.\n")
    (folder / "z.md").write_text("# Voles\n\nThe vole eats grass.\n")
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return folder


def test_ingest_prints_markup_in_paths_literally(corpus: Path, tmp_path: Path) -> None:
    """A folder ``d[/x]`` and a file ``:m: b.md``: no MarkupError, no emoji, names intact."""
    (corpus / "bad.pdf").write_bytes(b"not a pdf [/x] :smile:")
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert f"failed: {corpus / 'bad.pdf'}" in result.output
    assert "d[/x]" in result.output and "Traceback" not in result.output
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope[/x] :smile:")])
    assert missing.exit_code == EXIT_USAGE
    assert "nope[/x] :smile:" in missing.output and "😄" not in missing.output


def test_ask_prints_markup_and_emoji_codes_literally(corpus: Path) -> None:
    """A question with ``[bold]`` and ``:smile:``; the cited file ``d[/x]/:m: b.md``."""
    result = runner.invoke(app, ["ask", "[bold]marmot[/bold] :smile: burrows"])
    assert result.exit_code == 0, result.output
    assert "d[/x]/:m: b.md" in result.output
    assert "Ⓜ" not in result.output and "😄" not in result.output
    assert "Traceback" not in result.output
    shown = runner.invoke(app, ["ask", "[bold]x[/bold] :smile:", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"question": "[bold]x[/bold] :smile:"' in shown.output


@pytest.mark.parametrize(
    ("where", "code", "literal"),
    [
        ("source=[/x]", EXIT_USAGE, "--where source=[/x]: no ingested file matches"),
        ("source=*:m: b.md", 0, "d[/x]/:m: b.md"),
        ("team=[/x] :smile:", 0, "Sources"),
        ("[/x]=1", EXIT_USAGE, "filter field '[/x]' is not a valid name"),
    ],
)
def test_where_values_with_markup(corpus: Path, where: str, code: int, literal: str) -> None:
    result = runner.invoke(app, ["ask", "marmot", "--where", where])
    assert result.exit_code == code, result.output
    assert literal in result.output
    assert "Traceback" not in result.output and "😄" not in result.output


def test_question_with_bytes_that_are_not_utf8(corpus: Path) -> None:
    """``rag ask $'marmot \\xff'``: argv holds ``'\\udcff'``; it becomes U+FFFD, NUL goes."""
    result = runner.invoke(app, ["ask", "marmot \udcff\x00 burrows", "--json"])
    assert result.exit_code == 0, result.output
    assert '"question": "marmot \ufffd burrows"' in result.output
    assert "d[/x]/:m: b.md" in result.output


def test_question_with_bytes_through_a_real_process(corpus: Path, tmp_path: Path) -> None:
    """The same through the console script, where Python decodes argv itself."""
    import os
    import subprocess
    import sys

    script = Path(sys.executable).with_name("rag")
    out = subprocess.run(
        [os.fsencode(script), b"ask", b"marmot \xff burrows"],
        capture_output=True,
        env={**os.environ, "RAG_DATA_DIR": str(tmp_path / "data")},
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert b"Traceback" not in out.stderr
    assert b"d[/x]/:m: b.md" in out.stdout


def test_internal_error_is_one_line_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception that is not a RagError: ``error: internal error (...)``, exit 70, the hint
    to re-run with --debug; the traceback only with --debug or RAG_DEBUG=1."""

    def fail(*args: object, **kwargs: object) -> None:
        raise TypeError("TextInputSequence must be str [/x] :smile:")

    monkeypatch.setattr("rag.config.load_settings", fail)
    result = runner.invoke(app, ["ask", "q"])
    assert result.exit_code == EXIT_INTERNAL, result.output
    assert result.output.startswith(
        "error: internal error (TypeError: TextInputSequence must be str [/x] :smile:)"
    )
    assert "--debug" in result.output and "Traceback" not in result.output
    debug = runner.invoke(app, ["--debug", "ask", "q"])
    assert debug.exit_code == EXIT_INTERNAL
    assert "Traceback (most recent call last)" in debug.output
    assert "TypeError: TextInputSequence must be str [/x] :smile:" in debug.output
    monkeypatch.setenv("RAG_DEBUG", "1")
    by_env = runner.invoke(app, ["config"])
    assert by_env.exit_code == EXIT_INTERNAL and "Traceback" in by_env.output


def test_error_after_the_command_body_is_caught(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure outside ``handle_errors`` (printing the answer) is caught at the top too."""

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("printer broke")

    monkeypatch.setattr("rag.cli.ask._print_answer", fail)
    result = runner.invoke(app, ["ask", "marmot"])
    assert result.exit_code == EXIT_INTERNAL
    assert "error: internal error (RuntimeError: printer broke)" in result.output
    assert "Traceback" not in result.output


def test_rag_error_with_debug_shows_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.errors import ConfigError

    def fail(*args: object, **kwargs: object) -> None:
        raise ConfigError("bad setting [x]")

    monkeypatch.setattr("rag.config.load_settings", fail)
    plain = runner.invoke(app, ["config"])
    assert plain.exit_code == EXIT_USAGE and plain.output == "error: bad setting [x]\n"
    debug = runner.invoke(app, ["--debug", "config"])
    assert debug.exit_code == EXIT_USAGE
    assert "Traceback" in debug.output and "error: bad setting [x]" in debug.output


def test_click_usage_errors_keep_their_exit_code() -> None:
    """A bad option value inside a command is click's usage error (2), not an internal one."""
    result = runner.invoke(app, ["ask", "--top-k", "x", "q"])
    assert result.exit_code == 2 and "Invalid value for '--top-k'" in result.output
    assert "internal error" not in result.output
    unknown = runner.invoke(app, ["db", "status", "--nope"])
    assert unknown.exit_code == 2 and "internal error" not in unknown.output
