"""The ``rag`` command line.

Exit codes: 0 ok; 1 partial failure (some files failed to ingest, or generation failed);
2 usage error (bad option or setting, missing path, empty collection).
Heavy dependencies load inside the commands, so ``rag --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from rag.api import RAG
    from rag.types import Answer, IngestReport

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="rag",
    help="Retrieval-augmented generation, offline by default: ingest documents, ask questions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (default ./rag.toml).")
]
CollectionOpt = Annotated[
    str | None, typer.Option("--collection", help="Collection name [default: default].")
]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="chroma (default), pgvector or memory.")
]
DsnOpt = Annotated[str | None, typer.Option("--dsn", help="PostgreSQL DSN for --store pgvector.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [default: $XDG_DATA_HOME/rag]."),
]


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn rag's errors into a message on stderr and the documented exit code."""
    from rag.errors import CollectionNotFoundError, ConfigError, RagError

    try:
        yield
    except (ConfigError, CollectionNotFoundError) as exc:
        _stderr().print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(EXIT_USAGE) from None
    except RagError as exc:
        _stderr().print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_PARTIAL) from None
    except KeyboardInterrupt:
        _stderr().print("interrupted; re-run the same command to finish (nothing is duplicated)")
        raise typer.Exit(130) from None


def _make_rag(config: Path | None, **overrides: Any) -> RAG:
    """Settings from flags > env > rag.toml > defaults. With ``--store pgvector`` and no DSN,
    the store itself falls back to the ``rag db start`` server of the data directory."""
    from rag.api import RAG
    from rag.config import load_settings

    return RAG(load_settings(config, **overrides))


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="File or directory to ingest.")],
    include: Annotated[
        list[str] | None,
        typer.Option("--include", "-i", help="Glob a file must match (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="Glob to skip (repeatable).")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune/--no-prune", help="Remove chunks of files deleted from PATH (default: prune)."
        ),
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    collection: CollectionOpt = None,
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Load, chunk, embed and store the documents under PATH (incremental: only what changed)."""
    with _errors():
        r = _make_rag(config, collection=collection, store=store, pg_dsn=dsn, data_dir=data_dir)
        report = _run_ingest(r, path, include, exclude, prune, quiet=json_out)
    if json_out:
        typer.echo(report.model_dump_json(indent=2))
    else:
        _print_report(report)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)


def _run_ingest(
    r: RAG,
    path: Path,
    include: list[str] | None,
    exclude: list[str] | None,
    prune: bool,
    *,
    quiet: bool,
) -> IngestReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not path.exists():
        from rag.errors import ConfigError

        raise ConfigError(f"path {str(path)!r} does not exist; check the path and try again")
    console = _stderr()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=True,
    ) as bar:
        files = bar.add_task("files", total=None)
        embed = bar.add_task("embedding", total=None, visible=False)

        def progress(event: str, done: int, total: int) -> None:
            task = embed if event == "embed" else files
            bar.update(task, completed=done, total=total, visible=True)

        if not quiet and not console.is_terminal:
            console.print(f"ingesting {path} into collection '{r.settings.collection}' ...")
        return r.ingest(path, include=include, exclude=exclude, prune=prune, progress=progress)


def _print_report(report: IngestReport) -> None:
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    out.print(
        f"files: {report.files_seen} seen · {report.files_new} new · {report.files_changed} "
        f"changed · {report.files_unchanged} unchanged · {report.files_removed} removed · "
        f"{report.files_failed} failed"
        + (f" · {report.files_skipped} skipped (no loader)" if report.files_skipped else "")
    )
    out.print(
        f"chunks: {report.chunks_total} from new/changed files · {report.chunks_embedded} embedded"
        f" · {report.chunks_written} written · {report.chunks_deleted} deleted"
    )
    out.print(f"collection '{report.collection}' · {report.seconds:.2f} s")
    for failure in report.failures:
        _stderr().print(f"[yellow]failed:[/] {failure.path}: {failure.error}", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
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
    collection: CollectionOpt = None,
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Answer QUESTION from the ingested documents, with numbered citations and usage."""
    with _errors():
        r = _make_rag(
            config,
            collection=collection,
            store=store,
            pg_dsn=dsn,
            data_dir=data_dir,
            llm=llm,
            top_k=top_k,
            max_context_tokens=max_context_tokens,
            retrieval_mode=mode,
            mmr=mmr,
        )
        filters = _parse_where(where, r)
        if stream and not json_out:
            answer = _stream_answer(r, question, filters, show_prompt)
        else:
            answer = r.ask(question, filters=filters)
            if show_prompt and not json_out:
                _print_prompt(answer)
    if json_out:
        typer.echo(json.dumps(_answer_json(answer, show_prompt), indent=2, ensure_ascii=False))
    else:
        _print_answer(answer, printed_text=stream)


def _parse_where(where: list[str] | None, r: RAG) -> dict[str, Any] | None:
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
    typer.echo(f"--- prompt sent to {answer.usage.backend}:{answer.usage.model} ---")
    typer.echo(answer.prompt)
    typer.echo("--- end of prompt ---")
    for note in answer.prompt_notes:
        typer.echo(f"note: {note}")
    typer.echo("")


def _answer_json(answer: Answer, with_prompt: bool) -> dict[str, Any]:
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
        "usage": answer.usage.model_dump(mode="json"),
        "retrieval_latency_s": answer.retrieval_latency_s,
    }
    if with_prompt:
        data["prompt"] = answer.prompt
        data["prompt_notes"] = answer.prompt_notes
    return data


def _print_answer(answer: Answer, *, printed_text: bool) -> None:
    from rich.console import Console

    from rag.pipelines.query import display_path

    out = Console(highlight=False, soft_wrap=True)
    if not printed_text:
        out.print(answer.text or "(the model returned no text)", markup=False)
    out.print()
    cited = [c for c in answer.citations if c.cited]
    heading = "Sources:" if cited else "Sources (given to the model; it cited none by number):"
    out.print(heading)
    for c in answer.citations:
        loc = c.location.describe()
        mark = "*" if c.cited else " "
        out.print(
            f" {mark}[{c.number}] {display_path(c.source)}" + (f" ({loc})" if loc else ""),
            markup=False,
        )
    out.print(f"\nusage: {answer.usage.describe()} · retrieval {answer.retrieval_latency_s:.2f} s")


@app.command("config")
def show_config(
    config: ConfigOpt = None,
) -> None:
    """Print the effective settings (defaults < rag.toml < RAG_* env < flags) as JSON."""
    with _errors():
        from rag.config import load_settings

        settings = load_settings(config)
    data = settings.model_dump(mode="json")
    if data.get("pg_dsn"):
        data["pg_dsn"] = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", data["pg_dsn"])
    typer.echo(json.dumps(data, indent=2))


def _register_extensions() -> None:
    """Commands that live in their own modules (``rag db``, ``rag costs``)."""
    import importlib

    for name in ("rag._cli_db", "rag._cli_costs", "rag._cli_eval"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_register_extensions()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
