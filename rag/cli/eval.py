"""``rag eval DATASET_DIR``: retrieval (and optionally answer) quality on a BEIR-format
dataset, several settings side by side.

``rag eval evals/data/ko``
``rag eval ../scifact --split dev --configs dense=retrieval_mode=dense hybrid --html r.html``

Each ``--configs`` value is ``NAME=setting=value[,setting=value]`` (a bare ``NAME`` runs
the base settings); without it the configs are dense, keyword and hybrid. A ``stuff``
baseline row (top-4 1,000-character chunks sent whole) is always added.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.exit_codes import handle_errors
from rag.cli.options import ConfigOpt, DataDirOpt, StoreOpt


def eval_(
    dataset_dir: Annotated[
        Path,
        typer.Argument(help="BEIR-format dir: corpus.jsonl, queries*.jsonl, qrels*.tsv."),
    ],
    configs: Annotated[
        list[str] | None,
        typer.Option(
            "--configs",
            help="NAME=setting=value[,setting=value] (repeatable; default: dense, keyword, "
            "hybrid).",
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="Use queries.SPLIT.jsonl / qrels.SPLIT.tsv (e.g. dev)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Evaluate only the first N queries.")
    ] = None,
    answers: Annotated[
        bool,
        typer.Option(
            "--answers", help="Also generate answers and score them against answers.jsonl."
        ),
    ] = False,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the full result as JSON to FILE.")
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Write an HTML report with charts to FILE (matplotlib)."),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option(
            # not the shared --collection: here the default depends on the dataset
            "--collection",
            help="Collection to ingest into (default: eval-DATASETNAME).",
        ),
    ] = None,
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Ingest a BEIR dataset's corpus and report Recall@1/5/10, MRR@10, nDCG@10, context
    tokens per prompt and retrieval latency for each config."""
    import warnings

    from rag.cli.output import print_labelled, stderr, stdout
    from rag.config import load_settings
    from rag.evals.report import answer_table, table, to_json, write_html
    from rag.evals.runner import parse_configs, run_eval

    err = stderr()
    with handle_errors():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dataset warnings are reported below
            settings = load_settings(config, store=store, data_dir=data_dir)
            result = run_eval(
                dataset_dir,
                parse_configs(configs) if configs else None,
                settings=settings,
                collection=collection,
                split=split,
                limit=limit,
                answers=answers,
                progress=lambda msg: err.print(msg, style="dim"),
            )
        out = stdout(soft_wrap=False)
        if not out.is_terminal:
            out.width = 160  # never truncate the table in logs and pipes
        out.print(table(result))
        answers_view = answer_table(result)
        if answers_view is not None:
            out.print(answers_view)
        for config_result in result.configs:
            if config_result.note:
                err.print(f"note: {config_result.name}: {config_result.note}")
        for warning in result.warnings:
            print_labelled("warning:", "yellow", warning, console=err)
        if json_file is not None:
            json_file.write_text(to_json(result), encoding="utf-8")
            err.print(f"wrote {json_file}")
        if html_file is not None:
            write_html(result, html_file)
            err.print(f"wrote {html_file}")
