"""``rag ingest PATH``: load, chunk, embed and store documents, incrementally.

``--dry-run`` prints the plan instead (``RAG.plan_ingest``): per category of file the files,
chunks, tokens to embed, estimated seconds and cost; nothing is embedded or written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rag.cli._settings import make_rag
from rag.cli.exit_codes import EXIT_OK, EXIT_PARTIAL, handle_errors
from rag.cli.options import (
    CollectionOpt,
    ConfigOpt,
    DataDirOpt,
    DsnOpt,
    EmbedOpt,
    EngineOpt,
    QdrantPathOpt,
    QdrantUrlOpt,
    RayAddressOpt,
    StoreOpt,
)

if TYPE_CHECKING:
    from rag.api import RAG
    from rag.pipelines.ingest_estimate import IngestEstimate
    from rag.types import IngestReport


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
    allow_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-root",
            help="Folder that symbolic links under PATH may lead into (repeatable); "
            "nothing else outside PATH is read.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (files, chunks, tokens, estimated seconds and cost per "
            "category) and write nothing.",
        ),
    ] = False,
    embed: EmbedOpt = None,
    collection: CollectionOpt = None,
    store: StoreOpt = None,
    dsn: DsnOpt = None,
    qdrant_path: QdrantPathOpt = None,
    qdrant_url: QdrantUrlOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = None,
    ray_address: RayAddressOpt = None,
) -> None:
    """Load, chunk, embed and store the documents under PATH (incremental: only what changed)."""
    overrides = {
        "collection": collection,
        "store": store,
        "pg_dsn": dsn,
        "data_dir": data_dir,
        "ingest_engine": engine,
        "ray_address": ray_address,
        "qdrant_path": qdrant_path,
        "qdrant_url": qdrant_url,
    }
    if dry_run:
        with handle_errors(), make_rag(config, embed=embed, **overrides) as r:
            plan = run_plan(r, path, include, exclude, prune, allow_roots=allow_root)
        if json_out:
            typer.echo(plan.model_dump_json(indent=2))
        else:
            print_plan(plan)
        raise typer.Exit(EXIT_OK)
    # closed here, not at garbage collection: the keyword index checkpoints its WAL on close
    with handle_errors(), make_rag(config, embed=embed, **overrides) as r:
        report = run_ingest(
            r, path, include, exclude, prune, quiet=json_out, allow_roots=allow_root
        )
    if json_out:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_report(report)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)


def run_ingest(
    r: RAG,
    path: Path,
    include: list[str] | None,
    exclude: list[str] | None,
    prune: bool,
    *,
    quiet: bool,
    allow_roots: list[Path] | None = None,
) -> IngestReport:
    """Ingest ``path`` with a progress bar on a terminal (a one-line notice otherwise)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rag.cli.output import stderr

    if not path.exists():
        from rag.errors import ConfigError

        raise ConfigError(f"path {str(path)!r} does not exist; check the path and try again")
    console = stderr()
    with Progress(
        TextColumn("{task.description}", markup=False),
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
        return r.ingest(
            path,
            include=include,
            exclude=exclude,
            prune=prune,
            progress=progress,
            allow_roots=allow_roots,
        )


def print_report(report: IngestReport) -> None:
    """Counts of files and chunks on stdout; each failed file and its reason on stderr."""
    from rag.cli.output import print_labelled, stdout

    out = stdout()
    out.print(
        f"files: {report.files_seen} seen · {report.files_new} new · {report.files_changed} "
        f"changed · {report.files_unchanged} unchanged · {report.files_removed} removed · "
        f"{report.files_failed} failed"
        + (f" · {report.files_skipped} skipped (no loader)" if report.files_skipped else "")
        + (f" · {report.files_excluded_kept} excluded, kept" if report.files_excluded_kept else "")
        + (f" · {report.files_moved} moved (not re-embedded)" if report.files_moved else "")
        + (
            f" · {report.files_copied} copies (stored vectors reused)"
            if report.files_copied
            else ""
        )
        + (
            f" · {report.files_rerooted} re-rooted (not re-embedded)"
            if report.files_rerooted
            else ""
        )
    )
    made = "new/changed/moved" if report.files_moved or report.files_rerooted else "new/changed"
    out.print(
        f"chunks: {report.chunks_total} from {made} files · {report.chunks_embedded} embedded"
        f" · {report.chunks_written} written · {report.chunks_deleted} deleted"
    )
    out.print(f"collection '{report.collection}' · {report.seconds:.2f} s")
    for warning in report.warnings:
        print_labelled("warning:", "yellow", f"{warning.path}: {warning.warning}")
    for failure in report.failures:
        print_labelled("failed:", "yellow", f"{failure.path}: {failure.error}")


def run_plan(
    r: RAG,
    path: Path,
    include: list[str] | None,
    exclude: list[str] | None,
    prune: bool,
    *,
    allow_roots: list[Path] | None = None,
) -> IngestEstimate:
    """``RAG.plan_ingest`` for ``path`` (ConfigError when it does not exist)."""
    if not path.exists():
        from rag.errors import ConfigError

        raise ConfigError(f"path {str(path)!r} does not exist; check the path and try again")
    return r.plan_ingest(
        path, include=include, exclude=exclude, prune=prune, allow_roots=allow_roots
    )


def print_plan(plan: IngestEstimate) -> None:
    """The plan as a table on stdout; the failing files and their reasons on stderr."""
    from rich.table import Table

    from rag.cli.output import print_labelled, stdout

    def money(cost: object) -> str:
        return "unknown" if cost is None else f"${cost:.6f}"

    table = Table(
        title=f"ingest plan: collection '{plan.collection}' · embedder {plan.embedder}",
        title_justify="left",
    )
    table.add_column("files")
    for name in ("count", "chunks", "to embed", "tokens", "est. seconds", "est. cost"):
        table.add_column(name, justify="right")
    rows = [*plan.categories.items(), ("total", plan.total)]
    for name, row in rows:
        table.add_row(
            name,
            f"{row.files:,}",
            f"{row.chunks:,}",
            f"{row.chunks_to_embed:,}",
            f"{row.tokens:,}",
            f"{row.seconds:.1f}",
            money(row.cost),
            style="bold" if name == "total" else None,
        )
    out = stdout(soft_wrap=False)
    out.print(table)
    source = (
        "measured on this machine by earlier ingests"
        if plan.rate_source == "measured"
        else "default; a real ingest measures this machine's"
    )
    out.print("dry run: nothing was embedded or written")
    out.print(f"rate: {plan.seconds_per_kchar:.3f} s per 1000 characters ({source})")
    if plan.skipped:
        out.print(f"{plan.skipped} skipped (no loader)")
    for file, reason in plan.failures:
        print_labelled("failing:", "yellow", f"{file}: {reason}")
