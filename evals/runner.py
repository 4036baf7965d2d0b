"""Run retrieval settings side by side over a BEIR-format dataset.

``run_eval`` ingests ``corpus.jsonl`` once into a named collection (incremental, so a rerun
only checks hashes), then, for each named config (a dict of retrieval/prompt settings laid
over the base settings), retrieves every query, ranks documents (a document's rank is its
best chunk's; chunks map to corpus ids through ``location.record``), and measures
Recall@1/5/10, MRR@10, nDCG@10, p50/p95 retrieval latency, and the context tokens of the
prompt that ``rag ask`` would send for it (``RAG.prepare`` under that config's
``top_k`` / ``max_context_tokens`` / ``sentence_selection``).

A built-in ``stuff`` row is the baseline the issue compares against: the top-4 dense hits,
each widened to the 1,000-character chunk of its document that contains it (a fixed
1,000-character grid over ``title + "\\n\\n" + text``, exactly what a 1,000-character
chunker would have stored), sent whole with no budget, no dedup and no sentence selection.
Its tokens are counted with the same tokenizer and source headers; its ranking metrics are
those of the dense ranking of those four chunks.

With ``answers=True`` and an ``answers.jsonl``, every config also answers (``RAG.ask``, in
the config's ``answer_mode``) the questions with gold answers and those marked unanswerable,
scored by ``rag.evals.answers`` (correctness, grounding, citations, abstention, tokens,
latency); a built-in ``naive`` row answers with the top source's sentence sharing the most
terms with the question, the baseline every answer mode must beat.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from rag.config import Settings, describe_validation_error, load_settings
from rag.errors import ConfigError
from rag.evals.answers import AnswerStats, naive_answerer, rag_answerer, score_answers
from rag.evals.datasets import Dataset, Query, load_dataset
from rag.evals.metrics import (
    doc_ranking,
    mrr_at,
    ndcg_at,
    percentile,
    recall_at,
)

if TYPE_CHECKING:
    from rag.api import RAG
    from rag.embeddings import Embedder
    from rag.llms.base import LLM
    from rag.pipelines.grounding import SupportChecker
    from rag.stores.base import Store
    from rag.types import Retrieval, ScoredChunk

RECALL_KS = (1, 5, 10)
STUFF_K = 4
STUFF_CHARS = 1000
INGEST_SETTINGS = frozenset(
    {
        "data_dir",
        "collection",
        "store",
        "chroma_url",
        "pg_dsn",
        "include",
        "exclude",
        "prune",
        "chunk_tokens",
        "chunk_overlap",
        "embed_model",
        "embed_batch_size",
        "embed_device",
        "keyword_compounds",
        "keyword_title_weight",
    }
)
"""Settings fixed by the shared ingest; a config may not vary them."""

DEFAULT_CONFIGS: dict[str, dict[str, Any]] = {
    "dense": {"retrieval_mode": "dense"},
    "keyword": {"retrieval_mode": "keyword"},
    "hybrid": {"retrieval_mode": "hybrid"},
}

Progress = Callable[[str], None]


class QueryResult(BaseModel):
    """One query under one config."""

    id: str
    ranked: list[str]
    """The top 10 document ids."""
    recall5: float
    ndcg10: float
    context_tokens: int
    latency_ms: float
    answer: str | None = None
    em: float | None = None
    f1: float | None = None


class ConfigResult(BaseModel):
    """Aggregate metrics of one config (or of the ``stuff`` baseline)."""

    name: str
    overrides: dict[str, Any]
    queries: int
    recall: dict[int, float]
    mrr10: float
    ndcg10: float
    context_tokens_mean: float
    latency_p50_ms: float
    latency_p95_ms: float
    baseline: bool = False
    answers_only: bool = False
    """A row with answer scores only (the ``naive`` answer baseline)."""
    note: str = ""
    answers: AnswerStats | None = None
    per_query: list[QueryResult] = Field(default_factory=list)


class EvalResult(BaseModel):
    """Everything ``rag eval`` reports."""

    dataset: str
    split: str | None
    collection: str
    documents: int
    queries: int
    queries_without_qrels: int
    unknown_qrels: int
    unanswerable_queries: int = 0
    """Queries marked unanswerable in answers.jsonl: in no retrieval metric (see
    ``Dataset.unanswerable``)."""
    tokenizer: str
    ingest_seconds: float
    chunks_written: int
    warnings: list[str]
    configs: list[ConfigResult]

    def row(self, name: str) -> ConfigResult:
        for c in self.configs:
            if c.name == name:
                return c
        raise KeyError(name)


class _Counter:
    """Just enough of an LLM for ``RAG.prepare``: counting tokens. Generation is refused, so
    a retrieval-only eval can never call a model by accident."""

    supports_streaming = False
    context_window = 1_000_000

    def __init__(self, count: Callable[[str], int], backend: str, model: str) -> None:
        self._count = count
        self.backend = backend
        self.model = model

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("retrieval-only eval: no generation (run with --answers)")

    stream = complete


def parse_configs(specs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``NAME=key=value,key=value`` (or a bare ``NAME`` for the base settings) -> configs."""
    configs: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        name = name.strip()
        if not name:
            raise ConfigError(f"--configs {spec!r}: give NAME=setting=value[,setting=value]")
        cfg: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))) if rest else ():
            key, eq, value = item.partition("=")
            if not eq:
                raise ConfigError(
                    f"--configs {spec!r}: {item!r} is not setting=value "
                    "(e.g. dense=retrieval_mode=dense,top_k=4)"
                )
            cfg[key.strip().replace("-", "_")] = value.strip()
        if name in configs:
            raise ConfigError(f"--configs: the name {name!r} is used twice")
        configs[name] = cfg
    return configs


def _config_settings(base: Settings, name: str, cfg: Mapping[str, Any]) -> Settings:
    fixed = sorted(set(cfg) & INGEST_SETTINGS)
    if fixed:
        raise ConfigError(
            f"config {name!r} sets {', '.join(fixed)}: ingest settings are shared by every "
            "config (one ingest); set them on the command line or in rag.toml instead"
        )
    try:
        return Settings.model_validate({**base.model_dump(), **cfg})
    except ValidationError as exc:
        raise ConfigError(f"config {name!r}: {describe_validation_error(exc)}") from None


def _collection_name(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-_.") or "dataset"
    return f"eval-{clean}"[:63].rstrip("-_.")


def _token_counter(settings: Settings, llm: LLM | None) -> _Counter:
    """Count with the answering model's tokenizer (the packaged local model by default), or
    ``approx_tokens`` when that model is not installed."""
    from rag.llms.base import approx_tokens

    if llm is None:
        try:
            from rag.llms import make_llm

            llm = make_llm(settings.llm, settings)
            llm.count_tokens("probe")
        except Exception:  # model not installed / not loadable: estimate instead
            return _Counter(approx_tokens, "approx", "approx_tokens")
    return _Counter(llm.count_tokens, llm.backend, llm.model)


def _document_texts(dataset: Dataset) -> dict[str, str]:
    """Each corpus record's text exactly as the ingest stored it: read by the JSON connector
    (``title + "\\n\\n" + text``), keyed by its record id."""
    from rag.connectors import iter_file

    return {
        doc.location.record: doc.text
        for doc in iter_file(dataset.corpus_path)
        if doc.location.record is not None
    }


def _stuff_blocks(hits: Sequence[ScoredChunk], docs: Mapping[str, str]) -> list[str]:
    """The top ``STUFF_K`` hits widened to their 1,000-character grid cell, with headers."""
    from rag.pipelines.query import display_path

    blocks: list[str] = []
    seen: set[tuple[str, int]] = set()
    for hit in hits:
        chunk = hit.chunk
        record = chunk.location.record
        text = chunk.text
        doc = docs.get(record) if record is not None else None
        cell = 0
        if doc is not None:
            start = doc.find(chunk.text[:200])
            cell = max(start, 0) // STUFF_CHARS
            text = doc[cell * STUFF_CHARS : (cell + 1) * STUFF_CHARS]
        key = (record or chunk.id, cell)
        if key in seen:
            continue
        seen.add(key)
        loc = chunk.location.describe()
        header = f"[{len(blocks) + 1}] {display_path(chunk.source)}" + (f" ({loc})" if loc else "")
        blocks.append(f"{header}\n{text}")
        if len(blocks) == STUFF_K:
            break
    return blocks


def _query_result(
    q: Query, ranked: list[str], context_tokens: int, latency_ms: float
) -> QueryResult:
    """One query's row: its top 10 documents, Recall@5, nDCG@10, prompt tokens, latency."""
    return QueryResult(
        id=q.id,
        ranked=ranked[:10],
        recall5=recall_at(ranked, q.relevant, 5),
        ndcg10=ndcg_at(ranked, q.relevant, 10),
        context_tokens=context_tokens,
        latency_ms=latency_ms,
    )


def _aggregate(
    name: str,
    overrides: Mapping[str, Any],
    rows: list[QueryResult],
    rankings: list[list[str]],
    queries: Sequence[Query],
    *,
    baseline: bool = False,
    note: str = "",
) -> ConfigResult:
    n = len(rows) or 1
    return ConfigResult(
        name=name,
        overrides=dict(overrides),
        queries=len(rows),
        recall={
            k: sum(recall_at(r, q.relevant, k) for r, q in zip(rankings, queries, strict=True)) / n
            for k in RECALL_KS
        },
        mrr10=sum(mrr_at(r, q.relevant, 10) for r, q in zip(rankings, queries, strict=True)) / n,
        ndcg10=sum(x.ndcg10 for x in rows) / n,
        context_tokens_mean=sum(x.context_tokens for x in rows) / n,
        latency_p50_ms=percentile([x.latency_ms for x in rows], 50),
        latency_p95_ms=percentile([x.latency_ms for x in rows], 95),
        baseline=baseline,
        note=note,
        per_query=rows,
    )


def run_eval(
    dataset_dir: str | Path,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    settings: Settings | None = None,
    collection: str | None = None,
    data_dir: str | Path | None = None,
    split: str | None = None,
    limit: int | None = None,
    answers: bool = False,
    stuff_baseline: bool = True,
    store: Store | None = None,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Evaluate each config over the dataset in ``dataset_dir`` (see the module docstring).

    ``settings`` are the base (default: rag.toml / env / defaults); ``collection`` defaults
    to ``eval-<dataset name>``. ``store``/``embedder``/``llm`` override the parts built from
    the settings (tests pass fakes; the CLI builds them once for every config).
    """
    from rag.api import RAG

    say = progress or (lambda _msg: None)
    dataset = load_dataset(dataset_dir, split=split)
    overrides: dict[str, Any] = {"collection": collection or _collection_name(dataset.name)}
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    if settings is None:
        base_settings = load_settings(**overrides)
    else:
        base_settings = _config_settings(settings, "base", {}).model_copy(update=overrides)
    chosen = dict(configs) if configs else dict(DEFAULT_CONFIGS)
    per_config = {name: _config_settings(base_settings, name, cfg) for name, cfg in chosen.items()}
    queries = dataset.queries[:limit] if limit else dataset.queries

    base = RAG(base_settings, store=store, embedder=embedder)
    say(f"ingesting {dataset.corpus_path} into collection '{base_settings.collection}'")
    started = time.perf_counter()
    report = base.ingest(dataset.corpus_path, prune=False)
    ingest_s = time.perf_counter() - started
    if report.failures:
        raise ConfigError(f"{dataset.corpus_path}: {report.failures[0].error}")

    answer_llm = llm
    if answers and answer_llm is None:
        from rag.llms import make_llm

        answer_llm = make_llm(base_settings.llm, base_settings)
    counter = _token_counter(base_settings, answer_llm)
    tokenizer = f"{counter.backend}:{counter.model}"
    answer_queries = [*queries, *dataset.unanswerable]
    checker = _checker(base) if answers else None

    results: list[ConfigResult] = []
    dense_hits: dict[str, tuple[Retrieval, float]] = {}
    for name, cfg_settings in per_config.items():
        say(f"config {name}: {len(queries)} queries")
        r = base.with_settings(cfg_settings, llm=counter)
        k = max(10, cfg_settings.top_k)
        rows: list[QueryResult] = []
        rankings: list[list[str]] = []
        for q in queries:
            t0 = time.perf_counter()
            hits = r.retrieve(q.text, k=k)
            latency = (time.perf_counter() - t0) * 1000
            if cfg_settings.retrieval_mode == "dense" and q.id not in dense_hits:
                dense_hits[q.id] = (hits, latency)
            ranked = doc_ranking(hits)
            rankings.append(ranked)
            prepared = r.prepare(q.text, retrieval=hits.top(cfg_settings.top_k))
            rows.append(_query_result(q, ranked, prepared.context_tokens, latency))
        r.close()
        result = _aggregate(name, chosen[name], rows, rankings, queries)
        if checker is not None and answer_llm is not None:
            with base.with_settings(cfg_settings, llm=answer_llm) as answering:
                result.answers = score_answers(
                    rag_answerer(answering), answer_queries, checker, counter.count_tokens
                )
            _fill_rows(rows, result.answers)
        results.append(result)

    if stuff_baseline:
        results.append(_stuff_row(base, counter, dataset, queries, dense_hits))
    if checker is not None and answer_llm is not None:
        with base.with_settings(base_settings, llm=answer_llm) as naive:
            stats = score_answers(
                naive_answerer(naive), answer_queries, checker, counter.count_tokens
            )
        results.append(_naive_row(stats))
    if store is None:
        base.close()
    return EvalResult(
        dataset=dataset.name,
        split=split,
        collection=base_settings.collection,
        documents=len(dataset.doc_ids),
        queries=len(queries),
        queries_without_qrels=dataset.queries_without_qrels,
        unknown_qrels=dataset.unknown_qrels,
        unanswerable_queries=len(dataset.unanswerable),
        tokenizer=tokenizer,
        ingest_seconds=ingest_s,
        chunks_written=report.chunks_written,
        warnings=dataset.warnings,
        configs=results,
    )


def _stuff_row(
    base: RAG,
    counter: _Counter,
    dataset: Dataset,
    queries: Sequence[Query],
    dense_hits: dict[str, tuple[Retrieval, float]],
) -> ConfigResult:
    """The top-4 stuff prompt of 1,000-character chunks (see the module docstring)."""
    dense = base.with_settings(
        base.settings.model_copy(update={"retrieval_mode": "dense"}), llm=counter
    )
    docs = _document_texts(dataset)
    rows: list[QueryResult] = []
    rankings: list[list[str]] = []
    for q in queries:
        if q.id in dense_hits:  # the dense config's retrieval, with its timing
            hits, latency = dense_hits[q.id]
        else:
            t0 = time.perf_counter()
            hits = dense.retrieve(q.text, k=10)
            latency = (time.perf_counter() - t0) * 1000
        blocks = _stuff_blocks(hits, docs)
        ranked = doc_ranking(hits)
        rankings.append(ranked)
        tokens = sum(counter.count_tokens(b) for b in blocks)
        rows.append(_query_result(q, ranked, tokens, latency))
    dense.close()
    note = (
        f"baseline: top-{STUFF_K} dense hits widened to their {STUFF_CHARS:,}-character chunk, "
        "sent whole (no budget, no sentence selection); ranking = dense"
    )
    return _aggregate(
        "stuff", {"retrieval_mode": "dense"}, rows, rankings, queries, baseline=True, note=note
    )


def _checker(base: RAG) -> SupportChecker:
    """The one support checker every config's answers are judged by (built cheaply; the
    embedder loads only when an answer is judged)."""
    from rag.pipelines.grounding import SupportChecker

    return SupportChecker(base.keyword_tokenizer.tokenize_batch, base.embedder)


def _fill_rows(rows: list[QueryResult], stats: AnswerStats) -> None:
    """Copy each answerable question's answer and scores onto its retrieval row."""
    by_id = {a.id: a for a in stats.per_answer}
    for row in rows:
        got = by_id.get(row.id)
        if got is not None:
            row.answer, row.em, row.f1 = got.answer, got.em, got.f1


def _naive_row(stats: AnswerStats) -> ConfigResult:
    """The naive answer baseline as a row of its own (answers only, no ranking metrics)."""
    return ConfigResult(
        name="naive",
        overrides={},
        queries=stats.scored,
        recall={k: 0.0 for k in RECALL_KS},
        mrr10=0.0,
        ndcg10=0.0,
        context_tokens_mean=0.0,
        latency_p50_ms=0.0,
        latency_p95_ms=0.0,
        baseline=True,
        answers_only=True,
        note="answer baseline: the top source's sentence sharing the most terms with the "
        "question (base settings' retrieval); answer columns only",
        answers=stats,
    )
