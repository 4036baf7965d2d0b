"""``rag costs``: what the logged model calls cost, per day x backend x model, from the call log.

``rag costs [--since 7d] [--tenant NAME] [--json] [--chart costs.png]``. Costs are exact decimals; calls whose
price was unknown are counted and shown as "+ N unknown", never folded in as zero. The chart
needs matplotlib (``pip install 'rag[charts]'``), imported only when ``--chart`` is given.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rag.cli.exit_codes import handle_errors
from rag.cli.options import ConfigOpt, DataDirOpt

if TYPE_CHECKING:
    from rag.costs.calllog import CostRow, CostSummary


def costs(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only calls in the last span (7d, 24h, 30m, 2w) or since a date."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Also save a PNG of spend per day by model (matplotlib)."),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Call log file (default: DATA_DIR/calls.db)."),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Only the calls made for this tenant of `rag serve`."),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Per day, kind (llm, embedding), backend and model: calls, tokens (input/output/cached),
    cost, p50 latency and p50 output tokens per second."""
    from rag.costs.calllog import CallLog, parse_since

    start: datetime | None = None
    if since is not None:
        try:
            start = parse_since(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
    with handle_errors():
        if log is None:
            from rag.config import load_settings
            from rag.costs.logs import make_call_log

            settings = load_settings(config, data_dir=data_dir)
            shared = make_call_log(settings, tenant=tenant)
            summary = shared.summary(start)
            shared.close()
            log = settings.call_log_path if isinstance(shared, CallLog) else Path("postgresql")
        else:
            summary = CallLog(log, tenant=tenant).summary(start)
        if chart is not None:
            save_chart(summary, chart)
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        print_table(summary, log)
    if chart is not None and not as_json:
        typer.echo(f"chart saved to {chart}")


def register(app: typer.Typer) -> None:
    """Add the ``costs`` command to ``app`` (``rag.cli`` does; so do tests with an app of their
    own)."""
    app.command("costs")(costs)


def _money(row: CostRow) -> str:
    if row.unknown_cost_calls and row.unknown_cost_calls == row.calls - row.errors and not row.cost:
        return "unknown"
    text = f"${row.cost:.6f}"
    if row.unknown_cost_calls:
        text += f" + {row.unknown_cost_calls} unknown"
    return text


def print_table(summary: CostSummary, log: Path) -> None:
    """The human table (rich), with a totals row."""
    from rich.table import Table

    from rag.cli.output import stdout

    console = stdout(soft_wrap=False)
    if not console.is_terminal:
        console = stdout(
            width=160, soft_wrap=False
        )  # piped or captured: do not squeeze the columns
    span = f" since {summary.since:%Y-%m-%d %H:%M} UTC" if summary.since else ""
    if not summary.rows:
        console.print(f"no calls logged in {log}{span}")
        return
    table = Table(title=f"model calls{span}", title_justify="left")
    table.add_column("day", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("backend:model", overflow="fold")
    for name in (
        "calls",
        "errors",
        "input",
        "output",
        "cached",
        "cache write",
        "cost",
        "p50 latency",
        "p50 tok/s",
    ):
        table.add_column(name, justify="right")

    def cells(row: CostRow) -> list[str]:
        p50 = "-" if row.p50_latency_s is None else f"{row.p50_latency_s:.2f} s"
        rate = row.p50_output_tokens_per_s
        return [
            f"{row.calls}",
            f"{row.errors}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            f"{row.cached_input_tokens:,}",
            f"{row.cache_write_tokens:,}",
            _money(row),
            p50,
            "-" if rate is None else f"{rate:.1f}",
        ]

    for row in summary.rows:
        model = f"{row.backend}:{row.model}" + (f" + {row.adapter}" if row.adapter else "")
        table.add_row(str(row.day), row.kind, model, *cells(row))
    table.add_section()
    table.add_row("total", "", "", *cells(summary.total), style="bold")
    console.print(table)
    if summary.total.unknown_cost_calls:
        console.print(
            f"{summary.total.unknown_cost_calls} call(s) had no price: the total is a lower "
            "bound. Add their models to a price file (setting price_file)."
        )


def save_chart(summary: CostSummary, path: Path) -> None:
    """Stacked bars: known spend per UTC day, one colour per backend:model."""
    from rag._lazy import require

    matplotlib = require("matplotlib", "charts", "rag costs --chart")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "charts", "rag costs --chart")

    days = sorted({row.day for row in summary.rows if row.day is not None})
    models = sorted({f"{row.backend}:{row.model}" for row in summary.rows})
    spend = {(row.day, f"{row.backend}:{row.model}"): row.cost for row in summary.rows}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(days) + 3), 4))
    bottom = [0.0] * len(days)
    labels = [d.isoformat() for d in days]
    for model in models:
        heights = [float(spend.get((d, model), Decimal(0))) for d in days]
        ax.bar(labels, heights, bottom=bottom, label=model)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylabel("USD (known prices)")
    ax.set_title("rag: spend per day by model")
    if models:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        from rag.errors import ConfigError

        raise ConfigError(f"--chart {path}: cannot write the chart ({exc.strerror})") from None
    finally:
        plt.close(fig)
