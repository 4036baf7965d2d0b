"""CLI behaviour that needs no model: help, imports, usage errors, exit codes, config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag import errors
from rag.cli import app
from rag.cli.exit_codes import EXIT_CODES, exit_code_for

runner = CliRunner()


def test_help_imports_no_heavy_dependency() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rag.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'sentence_transformers', 'openai', 'anthropic', 'psycopg', 'fastapi', 'ray') if m in sys.modules]\n"
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
    from rag.cli.ask import parse_where as _parse_where
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
    with pytest.raises(ConfigError, match="no ingested file matches"):
        _parse_where(["source=*.pdf"], r)


def _flat(text: str) -> str:
    """Help text with its line wrapping undone."""
    return " ".join(text.split())


def test_help_keeps_bracketed_text() -> None:
    """Rich markup is off: ``[default: default]`` in option help is text, not a style tag."""
    result = runner.invoke(app, ["ask", "--help"])
    assert result.exit_code == 0
    assert "Collection name [default: default]." in _flat(result.output)
    assert "[default: $XDG_DATA_HOME/rag]" in _flat(result.output)
    db = runner.invoke(app, ["db", "start", "--help"])
    assert "[default: a free one]" in _flat(db.output)


def test_error_with_brackets_is_printed_intact(tmp_path: Path) -> None:
    """A real ConfigError whose fix names a TOML table: ``[routing.backends.main]`` survives."""
    toml = tmp_path / "rag.toml"
    toml.write_text('[routing]\ndefault = "main"\nbackends = { other = "local" }\n')
    result = runner.invoke(app, ["config", "--config", str(toml)])
    assert result.exit_code == 2
    assert "add [routing.backends.main] or fix the name" in result.output


# Every leaf command, with arguments that get it as far as loading the settings.
COMMANDS = [
    ["ingest", "{tmp}"],
    ["ask", "a question"],
    ["chat"],
    ["config"],
    ["costs"],
    ["eval", "{tmp}"],
    ["db", "start"],
    ["db", "stop"],
    ["db", "status"],
    ["serve", "keys", "add", "acme"],
]

# What the README promises: 2 usage error (bad option or setting, missing path, empty or
# missing collection), 1 partial failure (a file, the store or generation failed).
README_EXIT_CODES: list[tuple[BaseException, int]] = [
    (errors.ConfigError("bad setting [x]"), 2),
    (errors.MissingDependencyError("pip install 'rag[pg]'"), 2),
    (errors.CollectionNotFoundError("collection [c] is empty; run `rag ingest PATH` first"), 2),
    (errors.StoreError("the store [s] failed"), 1),
    (errors.DimensionMismatchError("384 != 768 [d]"), 1),
    (errors.LoadError("a[1].pdf", "cannot read [it]"), 1),
    (errors.LLMError("generation failed [g]"), 1),
    (errors.ContextWindowError("prompt too long [p]"), 1),
    (errors.BackendError("rate limited [r]", kind="rate_limit"), 1),
    (KeyboardInterrupt(), 130),
]


def _leaf_commands() -> set[tuple[str, ...]]:
    import typer.main

    def walk(cmd: object, path: tuple[str, ...]) -> set[tuple[str, ...]]:
        subs: dict[str, object] = getattr(cmd, "commands", {})
        if not subs:
            return {path}
        return set().union(*(walk(sub, (*path, name)) for name, sub in subs.items()))

    return walk(typer.main.get_command(app), ())


def test_commands_list_covers_every_command() -> None:
    """Add a new command to COMMANDS, so the exit-code test below runs it too."""
    depth = {"db": 2, "serve": 3}
    assert {tuple(c[: depth.get(c[0], 1)]) for c in COMMANDS} == _leaf_commands()


def test_the_table_agrees_with_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "`2` usage error (bad option or setting, missing path, empty or missing collection)" in (
        _flat(readme)
    )
    for exc, code in README_EXIT_CODES:
        assert exit_code_for(exc) == code, type(exc).__name__
    assert all(code in (1, 2, 130) for _, code in EXIT_CODES)


@pytest.mark.parametrize(
    ("exc", "code"), README_EXIT_CODES, ids=[type(e).__name__ for e, _ in README_EXIT_CODES]
)
def test_every_command_maps_an_exception_to_the_same_exit_code(
    exc: BaseException, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command loads its settings first; make that raise and check the code and message."""

    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr("rag.config.load_settings", fail)
    for command in COMMANDS:
        args = [a.replace("{tmp}", str(tmp_path)) for a in command]
        result = runner.invoke(app, args)
        assert result.exit_code == code, f"rag {' '.join(command)}: {result.output}"
        if str(exc):
            assert f"error: {exc}" in result.output, f"rag {' '.join(command)}: message changed"
        else:
            assert "interrupted" in result.output


# Flags of other programs that rag's messages quote (initdb, useradd, qpdf, pip, chroma, ...).
OTHER_TOOLS_FLAGS = {
    "--auth-host", "--auth-local", "--decrypt", "--encoding", "--force-reinstall", "--head", "--help",
    "--locale", "--password", "--path", "--pwfile", "--quantize", "--system", "--user-group",
}  # fmt: skip


def test_every_flag_the_code_names_exists() -> None:
    """An error hint or docstring that says ``--x`` names an option some command has; a flag of
    another program that a message quotes goes in OTHER_TOOLS_FLAGS."""
    import re

    from rag.cli import option_names

    repo = Path(__file__).resolve().parents[2]
    options = option_names()
    missing = set()
    for folder in ("rag", "connectors", "stores", "pipelines", "evals"):
        for file in (repo / folder).rglob("*.py"):
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", file.read_text()):
                if flag not in options and flag not in OTHER_TOOLS_FLAGS:
                    missing.add(f"{file.relative_to(repo)}: {flag}")
    assert not missing, sorted(missing)
