"""Show an ``EvalResult``: a terminal table (rich), JSON, and a self-contained HTML report
whose charts are matplotlib PNGs embedded as base64 (matplotlib from the ``charts`` extra,
imported only when the HTML report is written)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.evals.runner import EvalResult

if TYPE_CHECKING:
    from rich.table import Table

COLUMNS = (
    "config",
    "R@1",
    "R@5",
    "R@10",
    "MRR@10",
    "nDCG@10",
    "ctx tokens",
    "p50 ms",
    "p95 ms",
)


def rows(result: EvalResult) -> list[list[str]]:
    """One list of formatted cells per retrieval config, in ``COLUMNS`` order."""
    out: list[list[str]] = []
    for c in result.configs:
        if c.answers_only:
            continue
        out.append(
            [
                c.name + (" (baseline)" if c.baseline else ""),
                f"{c.recall[1]:.3f}",
                f"{c.recall[5]:.3f}",
                f"{c.recall[10]:.3f}",
                f"{c.mrr10:.3f}",
                f"{c.ndcg10:.3f}",
                f"{c.context_tokens_mean:.0f}",
                f"{c.latency_p50_ms:.1f}",
                f"{c.latency_p95_ms:.1f}",
            ]
        )
    return out


def headers(result: EvalResult) -> list[str]:
    return list(COLUMNS)


ANSWER_COLUMNS = (
    "answers",
    "contains",
    "EM",
    "F1",
    "in sources",
    "grounded",
    "cite prec",
    "abstain (unans.)",
    "abstain (ans.)",
    "out tokens",
    "s/answer",
    "cost",
)


def answer_rows(result: EvalResult) -> list[list[str]]:
    """One list of cells per config that answered, in ``ANSWER_COLUMNS`` order."""

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    out: list[list[str]] = []
    for c in result.configs:
        a = c.answers
        if a is None:
            continue
        cost = "unknown" if a.cost_usd is None else f"${a.cost_usd:.4f}"
        out.append(
            [
                c.name + (" (baseline)" if c.baseline else ""),
                num(a.answer_contains),
                num(a.answer_em),
                num(a.answer_f1),
                num(a.sources_contain),
                num(a.grounded),
                num(a.citation_precision),
                num(a.abstain_rate),
                num(a.false_abstain_rate),
                f"{a.output_tokens:.1f}",
                f"{a.latency_mean_s:.2f}",
                cost,
            ]
        )
    return out


def summary(result: EvalResult) -> str:
    """One line: dataset, split, counts, collection, tokenizer."""
    split = f" ({result.split})" if result.split else ""
    return (
        f"{result.dataset}{split}: {result.queries} queries, {result.documents} documents, "
        f"collection '{result.collection}', tokens counted with {result.tokenizer}"
    )


def table(result: EvalResult) -> Table:
    """A rich Table of every retrieval config side by side."""
    return _rich(summary(result), headers(result), rows(result))


def answer_table(result: EvalResult) -> Table | None:
    """A rich Table of the answer scores per config (None without ``--answers``)."""
    body = answer_rows(result)
    if not body:
        return None
    answered = next(c.answers for c in result.configs if c.answers is not None)
    title = (
        f"answers: {answered.scored} answerable + {answered.unanswerable} unanswerable "
        "questions; tokens counted with " + result.tokenizer
    )
    return _rich(title, list(ANSWER_COLUMNS), body)


def _rich(title: str, head: list[str], body: list[list[str]]) -> Table:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, name in enumerate(head):
        t.add_column(name, justify="left" if i == 0 else "right")
    for cells in body:
        t.add_row(*cells)
    return t


def plain_table(result: EvalResult) -> str:
    """The same tables as fixed-width text (for logs and tests)."""
    text = _plain(summary(result), headers(result), rows(result))
    answers = answer_rows(result)
    if answers:
        text += "\n\n" + _plain("answers", list(ANSWER_COLUMNS), answers)
    return text


def _plain(title: str, head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [title]
    for r in [head, *body]:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def to_json(result: EvalResult, *, per_query: bool = True) -> str:
    """The result as JSON (``per_query=False`` leaves out the per-query rows)."""
    exclude: Any = {"configs": {"__all__": {"per_query"}}} if not per_query else None
    return str(result.model_dump_json(indent=2, exclude=exclude))


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def charts(result: EvalResult) -> list[tuple[str, str]]:
    """(title, base64 PNG) pairs: quality metrics per config, and tokens vs Recall@5."""
    from rag._lazy import require

    require("matplotlib", "charts", "the HTML eval report's charts")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = [c for c in result.configs if not c.answers_only]
    names = [c.name for c in configs]
    metrics = [
        ("R@1", [c.recall[1] for c in configs]),
        ("R@5", [c.recall[5] for c in configs]),
        ("R@10", [c.recall[10] for c in configs]),
        ("MRR@10", [c.mrr10 for c in configs]),
        ("nDCG@10", [c.ndcg10 for c in configs]),
    ]
    out: list[tuple[str, str]] = []
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [m[1][i] for m in metrics], width, label=name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(metrics))])
    ax.set_xticklabels([m[0] for m in metrics])
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small", ncols=min(len(names), 5))
    ax.set_title("Retrieval quality per config (document level)")
    out.append(("Retrieval quality", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for c in configs:
        ax.scatter(c.context_tokens_mean, c.recall[5], s=60)
        ax.annotate(
            c.name, (c.context_tokens_mean, c.recall[5]), xytext=(5, 5), textcoords="offset points"
        )
    ax.set_xlabel("mean context tokens per prompt")
    ax.set_ylabel("Recall@5")
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.05)
    ax.set_title("Prompt size vs Recall@5")
    out.append(("Prompt size vs Recall@5", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(names, [c.latency_p50_ms for c in result.configs], label="p50")
    ax.scatter(
        names, [c.latency_p95_ms for c in result.configs], color="black", label="p95", zorder=3
    )
    ax.set_ylabel("retrieval latency (ms)")
    ax.legend(fontsize="small")
    ax.set_title("Retrieval latency")
    out.append(("Retrieval latency", _png(fig)))
    plt.close(fig)
    return out


def to_html(result: EvalResult) -> str:
    """A self-contained HTML page: summary, the table, notes, embedded charts."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers(result))
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows(result)
    )
    answers = answer_rows(result)
    if answers:
        body += "</tbody></table><h2>Answers</h2><table><thead><tr>"
        body += "".join(f"<th>{esc(h)}</th>" for h in ANSWER_COLUMNS) + "</tr></thead><tbody>"
        body += "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in answers
        )
    notes = [c.note for c in result.configs if c.note] + result.warnings
    settings = "".join(
        f"<li><b>{esc(c.name)}</b>: {esc(', '.join(f'{k}={v}' for k, v in c.overrides.items()) or 'base settings')}</li>"
        for c in result.configs
    )
    images = "".join(
        f'<figure><img alt="{esc(t)}" src="data:image/png;base64,{b64}"><figcaption>{esc(t)}'
        "</figcaption></figure>"
        for t, b64 in charts(result)
    )
    notes_html = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rag eval: {esc(result.dataset)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .3rem .7rem; border-bottom: 1px solid #ddd; }}
td:not(:first-child), th:not(:first-child) {{ text-align: right; }}
figure {{ display: inline-block; margin: 1rem 1rem 0 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>rag eval: {esc(result.dataset)}</h1>
<p>{esc(summary(result))}. Ingest: {result.chunks_written} chunks written in
{result.ingest_seconds:.1f} s. Metrics are at document level; context tokens are those of
the prompt <code>rag ask</code> would send.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Configs</h2><ul>{settings}</ul>
<h2>Notes</h2><ul>{notes_html}</ul>
<h2>Charts</h2>{images}
</body></html>
"""


def write_html(result: EvalResult, path: str | Path) -> Path:
    """Write ``to_html`` to ``path``; returns the path."""
    out = Path(path)
    out.write_text(to_html(result), encoding="utf-8")
    return out
