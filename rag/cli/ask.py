"""``rag ask QUESTION``: answer from the ingested documents, with citations and usage."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    QdrantPathOpt,
    QdrantUrlOpt,
    StoreOpt,
)

if TYPE_CHECKING:
    from rag.api import RAG
    from rag.types import Answer


def ask(
    question: Annotated[
        str | None, typer.Argument(help="The question (or --file with one per line).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print answer, citations and usage as one JSON object.")
    ] = False,
    show_prompt: Annotated[
        bool, typer.Option("--show-prompt", help="Print the exact prompt sent to the model.")
    ] = False,
    stream: Annotated[bool, typer.Option("--stream", help="Print tokens as they arrive.")] = False,
    llm: Annotated[
        str | None, typer.Option("--llm", help="Backend spec: local, local:/path/model.gguf, ...")
    ] = None,
    lora: LoraOpt = None,
    lora_scale: LoraScaleOpt = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sources to retrieve.")] = None,
    max_context_tokens: Annotated[
        int | None, typer.Option("--max-context-tokens", help="Token budget for the sources.")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="Filter FIELD=VALUE (repeatable): lang=ko, source=docs/*.md (a glob on paths).",
        ),
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="Retrieval: dense, keyword or hybrid (default).")
    ] = None,
    mmr: Annotated[
        bool | None,
        typer.Option("--mmr/--no-mmr", help="Diversify sources (maximal marginal relevance)."),
    ] = None,
    answer_mode: Annotated[
        str | None,
        typer.Option(
            "--answer-mode",
            help="extractive (the sources' own sentences), generative (the model writes, "
            "every sentence checked) or auto (default: extractive for models under 1B "
            "parameters).",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Answer every line of this file (- reads stdin) in one process: one JSON line "
            "per question, a progress bar, then tokens, cost and time.",
        ),
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option("--jsonl", help="With --file: write the JSON lines here [default: stdout]."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="With --file: questions answered at once [default: 8; the local model "
            "answers one at a time].",
        ),
    ] = None,
    collection: CollectionOpt = None,
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    qdrant_path: QdrantPathOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Answer QUESTION (or each line of --file) from the ingested documents, with numbered
    citations and usage."""
    if (question is None) == (file is None):
        raise typer.BadParameter(
            "give either a QUESTION or --file FILE (one question per line)", param_hint="QUESTION"
        )
    if file is None and (jsonl is not None or concurrency is not None):
        raise typer.BadParameter("--jsonl and --concurrency go with --file", param_hint="--file")
    if question is not None:
        from rag.keywords import has_hangul, warm_kiwi

        if has_hangul(question):
            warm_kiwi()  # a Korean question needs it: load it while the store opens
    with (
        handle_errors(),
        make_rag(
            config,
            collection=collection,
            store=store,
            pg_dsn=dsn,
            data_dir=data_dir,
            qdrant_path=qdrant_path,
            qdrant_url=qdrant_url,
            llm=llm,
            lora_path=lora,
            lora_scale=lora_scale,
            top_k=top_k,
            max_context_tokens=max_context_tokens,
            retrieval_mode=mode,
            mmr=mmr,
            answer_mode=answer_mode,
        ) as r,
    ):
        filters = parse_where(where, r)
        if file is not None:
            from rag.cli.batch import ask_file

            ask_file(r, file, jsonl, concurrency, filters, lambda a: answer_json(a, False))
        assert question is not None
        if stream and not json_out:
            answer = _stream_answer(r, question, filters, show_prompt)
        else:
            answer = r.ask(question, filters=filters)
            if show_prompt and not json_out:
                _print_prompt(answer)
    if json_out:
        typer.echo(json.dumps(answer_json(answer, show_prompt), indent=2, ensure_ascii=False))
    else:
        _print_answer(answer, printed_text=stream)


def parse_where(where: list[str] | None, r: RAG) -> dict[str, Any] | None:
    """``FIELD=VALUE`` pairs as store filters. ``source`` takes a glob (``docs/*.md``), matched
    against the ingested paths (absolute, or relative to the working directory)."""
    import fnmatch

    from rag.errors import ConfigError
    from rag.pipelines.query import display_path

    if not where:
        return None
    filters: dict[str, Any] = {}
    for item in where:
        field, sep, value = item.partition("=")
        field, value = field.strip(), value.strip()
        if not sep or not field:
            raise ConfigError(f"--where {item!r}: use FIELD=VALUE, e.g. --where lang=ko")
        if field == "source":
            sources = [
                s
                for s in r.store.sources()
                if fnmatch.fnmatchcase(s, value) or fnmatch.fnmatchcase(display_path(s), value)
            ]
            if not sources:
                raise ConfigError(
                    f"--where source={value}: no ingested file matches; paths are matched "
                    "absolute or relative to the working directory"
                )
            filters[field] = sources
        elif re.fullmatch(r"-?\d+", value):
            filters[field] = [value, int(value)]  # metadata may hold the number or the text
        else:
            filters[field] = value
    return filters


def _stream_answer(r: RAG, question: str, filters: Any, show_prompt: bool) -> Answer:
    from rag.types import Answer

    answer: Answer | None = None
    for part in r.ask_stream(question, filters=filters):
        if isinstance(part, Answer):
            answer = part
        else:
            sys.stdout.write(part)
            sys.stdout.flush()
    sys.stdout.write("\n")
    assert answer is not None
    if show_prompt:
        _print_prompt(answer)
    return answer


def _print_prompt(answer: Answer) -> None:
    """The exact prompt, then what was cut from the sources and why."""
    if answer.mode == "extractive":
        typer.echo(
            "--- prompt (not sent: the answer is extractive; --answer-mode generative sends "
            "it to the model) ---"
        )
    else:
        typer.echo(f"--- prompt sent to {answer.usage.backend}:{answer.usage.model} ---")
    typer.echo(answer.prompt)
    typer.echo("--- end of prompt ---")
    for note in answer.prompt_notes:
        typer.echo(f"note: {note}")
    typer.echo("")


def answer_json(answer: Answer, with_prompt: bool) -> dict[str, Any]:
    from rag.pipelines.query import display_path

    data: dict[str, Any] = {
        "question": answer.question,
        "answer": answer.text,
        "citations": [
            {
                **c.model_dump(mode="json", exclude={"text"}),
                "path": display_path(c.source),
                "location_text": c.location.describe(),
            }
            for c in answer.citations
        ],
        "usage": {
            **answer.usage.model_dump(mode="json"),
            "output_tokens_per_s": answer.usage.output_tokens_per_s,
        },
        "retrieval_latency_s": answer.retrieval_latency_s,
        "mode": answer.mode,
        "grounded": answer.grounded,
        "abstained": answer.abstained,
        "abstain_reason": answer.abstain_reason,
        "sentences": [s.model_dump(mode="json") for s in answer.sentences],
    }
    if with_prompt:
        data["prompt"] = answer.prompt
        data["prompt_notes"] = answer.prompt_notes
    return data


def _print_answer(answer: Answer, *, printed_text: bool) -> None:
    from rag.cli.output import print_labelled, stdout
    from rag.pipelines.query import display_path

    out = stdout()
    if not printed_text:
        out.print(answer.text or "(the model returned no text)", markup=False)
    if answer.abstain_reason:
        out.print(f"(why: {answer.abstain_reason})", markup=False, style="dim")
    out.print()
    if answer.unsupported:
        print_labelled(
            "warning:",
            "yellow",
            f"{len(answer.unsupported)} of {len(answer.sentences)} "
            "sentences are not supported by the sources (grounded "
            f"{answer.grounded or 0:.0%}); do not rely on:",
            console=out,
        )
        for s in answer.unsupported:
            out.print(f"  ! {s.text}", markup=False, style="yellow")
        out.print()
    cited = [c for c in answer.citations if c.cited]
    if cited:
        heading = "Sources:"
    elif answer.mode == "extractive":
        heading = "Sources (none answers the question):"
    else:
        heading = "Sources (given to the model; it cited none by number):"
    out.print(heading)
    for c in answer.citations:
        loc = c.location.describe()
        mark = "*" if c.cited else " "
        out.print(f" {mark}[{c.number}] {display_path(c.source)}" + (f" ({loc})" if loc else ""))
    out.print(f"\nusage: {answer.usage.describe()} · retrieval {answer.retrieval_latency_s:.2f} s")
