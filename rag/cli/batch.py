"""``rag ask --file questions.txt --jsonl answers.jsonl --concurrency 8``: many questions in one
process, on one loaded model, in one retrieval pass (``RAG.ask_many``).

One question per non-empty line of the file (``-`` reads stdin). One JSON line per question,
in the file's order, to ``--jsonl`` (default stdout): the answer as ``rag ask --json`` gives
it, or ``{"index", "question", "error": {"kind", "message"}}`` for a question that failed.
A progress bar and, at the end, a summary (answered and failed, tokens, cost, seconds, output
tokens per second) go to stderr. Exit 0 when every question is answered, 1 when some failed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer

from rag.cli.exit_codes import EXIT_OK, EXIT_PARTIAL
from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.api import RAG
    from rag.stores.base import Filters
    from rag.types import Answer, AskFailure


def read_questions(path: Path) -> list[str]:
    """The non-empty lines of ``path`` (``-``: stdin), stripped."""
    if str(path) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ConfigError(
                f"--file {path}: cannot read it ({exc.strerror or exc}); give a text file "
                "with one question per line"
            ) from exc
    questions = [line.strip() for line in text.splitlines() if line.strip()]
    if not questions:
        raise ConfigError(f"--file {path}: no questions in it; write one question per line")
    return questions


def line_of(
    index: int, result: Answer | AskFailure, answer_json: Callable[[Answer], dict[str, Any]]
) -> dict[str, Any]:
    """The JSON line of one question (module docstring); ``answer_json``: ``rag ask --json``'s
    object of an answer."""
    from rag.types import AskFailure

    if isinstance(result, AskFailure):
        return {
            "index": index,
            "question": result.question,
            "error": {"kind": result.kind, "message": result.message},
        }
    return {"index": index, **answer_json(result)}


def summary(results: list[Answer | AskFailure], seconds: float) -> str:
    """One line: answered, failed, tokens, cost, wall time and output tokens per second."""
    from rag.types import Answer

    answers = [r for r in results if isinstance(r, Answer)]
    failed = len(results) - len(answers)
    tokens_in = sum(a.usage.input_tokens for a in answers)
    tokens_out = sum(a.usage.output_tokens for a in answers)
    costs = [a.usage.cost for a in answers if a.usage.cost is not None]
    known = len(costs) == len(answers)
    cost = f"${sum(costs, Decimal(0)):.6f}" if known else "unknown"
    rate = tokens_out / seconds if seconds > 0 else 0.0
    return (
        f"{len(answers)} answered, {failed} failed · {tokens_in} in / {tokens_out} out tokens"
        f" · {cost} · {seconds:.2f} s · {rate:.1f} output tokens/s"
    )


def ask_file(
    r: RAG,
    path: Path,
    jsonl: Path | None,
    concurrency: int | None,
    filters: Filters | None,
    answer_json: Callable[[Answer], dict[str, Any]],
) -> None:
    """Answer every question of ``path`` and write the lines (module docstring); exits."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rag.cli.output import print_labelled, stderr

    questions = read_questions(path)
    out: IO[str]
    if jsonl is None or str(jsonl) == "-":
        out = sys.stdout
    else:
        try:
            out = jsonl.open("w", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--jsonl {jsonl}: cannot write it ({exc.strerror or exc})") from exc
    console = stderr()
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("answering"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task("answering", total=len(questions))
            results = r.ask_many(
                questions,
                concurrency=concurrency,
                filters=filters,
                on_done=lambda _i, _result: bar.advance(task),
            )
        for i, result in enumerate(results):
            out.write(json.dumps(line_of(i, result, answer_json), ensure_ascii=False) + "\n")
        out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    seconds = time.perf_counter() - started
    from rag.types import AskFailure

    for failure in (x for x in results if isinstance(x, AskFailure)):
        print_labelled(
            "failed:", "yellow", f"[{failure.index}] {failure.question}: {failure.message}"
        )
    console.print(summary(results, seconds))
    failed = any(isinstance(x, AskFailure) for x in results)
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)
