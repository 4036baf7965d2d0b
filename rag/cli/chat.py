"""``rag chat --collection handbook``: a conversation in the terminal.

Each question is asked with the conversation so far as ``history`` (so a follow-up such as "and
how long does that take?" is retrieved as one, ``rag.pipelines.conversation``); the answer is
printed as it is generated, then its numbered sources and usage. Every call is recorded in the
call log as ``rag ask`` records it. Commands: ``/sources`` prints the last answer's sources
with their text, ``/reset`` forgets the conversation, ``/exit`` (or Ctrl-D) ends it. The
conversation lives in memory only.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from rag.cli._settings import make_rag
from rag.cli.exit_codes import handle_errors
from rag.cli.options import (
    CollectionOpt,
    ConfigOpt,
    DataDirOpt,
    DsnOpt,
    LoraOpt,
    LoraScaleOpt,
    StoreOpt,
)

if TYPE_CHECKING:
    from rich.console import Console

    from rag.api import RAG
    from rag.types import Answer

HELP = "Commands: /sources (the last answer's sources in full), /reset (forget), /exit."


def chat(
    llm: Annotated[
        str | None, typer.Option("--llm", help="Backend spec: local, local:/path/model.gguf, ...")
    ] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sources to retrieve.")] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="Retrieval: dense, keyword or hybrid (default).")
    ] = None,
    answer_mode: Annotated[
        str | None,
        typer.Option(
            "--answer-mode", help="extractive, generative or auto (default), as for rag ask."
        ),
    ] = None,
    lora: LoraOpt = None,
    lora_scale: LoraScaleOpt = None,
    collection: CollectionOpt = None,
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """A conversation about the ingested documents: follow-up questions use the history;
    /sources, /reset, /exit."""
    from rag.cli.output import stderr, stdout

    out, err = stdout(), stderr()
    with handle_errors():
        r = make_rag(
            config,
            collection=collection,
            store=store,
            pg_dsn=dsn,
            data_dir=data_dir,
            llm=llm,
            lora_path=lora,
            lora_scale=lora_scale,
            top_k=top_k,
            retrieval_mode=mode,
            answer_mode=answer_mode,
        )
    from rag.pipelines.query import check_queryable

    with r:  # closed however the chat ends, a failed start check included
        with handle_errors():
            check_queryable(r.store, None)
            r.llm  # noqa: B018  built now: a bad --llm or --lora fails here, not at the first question
        out.print(f"rag chat · collection {r.settings.collection} · {HELP}")
        _loop(r, out, err)


def _loop(r: RAG, out: Console, err: Console) -> None:
    from rag.cli.output import print_error
    from rag.errors import RagError
    from rag.redact import redact

    history: list[tuple[str, str]] = []
    last: Answer | None = None
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        question = line.strip()
        if not question:
            continue
        if question in ("/exit", "/quit"):
            return
        if question == "/reset":
            history.clear()
            last = None
            out.print("(conversation forgotten)")
            continue
        if question == "/sources":
            _print_sources(last, out)
            continue
        if question.startswith("/"):
            out.print(f"unknown command {question!r}. {HELP}", markup=False)
            continue
        try:
            last = _turn(r, question, history, out)
        except RagError as exc:
            print_error(redact(str(exc)))
            continue
        history += [("user", question), ("assistant", last.text)]


def _turn(r: RAG, question: str, history: list[tuple[str, str]], out: Console) -> Answer:
    """Ask with the history, print the answer as it comes, then its sources and usage."""
    from rag.pipelines.query import display_path
    from rag.types import Answer

    answer: Answer | None = None
    for part in r.ask_stream(question, history=history):
        if isinstance(part, Answer):
            answer = part
        else:
            sys.stdout.write(part)
            sys.stdout.flush()
    sys.stdout.write("\n")
    assert answer is not None
    for c in answer.citations:
        loc = c.location.describe()
        mark = "*" if c.cited else " "
        out.print(f" {mark}[{c.number}] {display_path(c.source)}" + (f" ({loc})" if loc else ""))
    out.print(f"usage: {answer.usage.describe()}")
    return answer


def _print_sources(answer: Answer | None, out: Console) -> None:
    from rag.pipelines.query import display_path

    if answer is None:
        out.print("(no answer yet)")
        return
    for c in answer.citations:
        loc = c.location.describe()
        out.print(f"[{c.number}] {display_path(c.source)}" + (f" ({loc})" if loc else ""))
        out.print(c.text.strip())
        out.print()
