"""The README's promises are checked here, so the docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from rag.cli import app

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_readme_has_exactly_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```\n(.*?)```", quick, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^demo: \$\(STAMP\)", makefile, re.M) and re.search(
        r"^test: \$\(STAMP\)", makefile, re.M
    )
    assert "torch==2.13.0" in makefile


def test_every_rag_command_in_the_readme_exists_with_its_options() -> None:
    runner = CliRunner()
    lines = [m.group(1) for m in re.finditer(r"^rag (\w+[^#\n]*)", README, re.M)]
    assert len(lines) >= 5
    for line in lines:
        words = line.split()
        command = words[0]
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, f"`rag {command}` from the README does not exist"
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, (
                f"README uses `rag {command} {option}`, which --help lacks"
            )
