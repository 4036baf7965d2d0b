"""What rag's LangChain retriever adds: SciFact dev queries through ``RagRetriever`` inside
LangChain (``retriever.invoke``) against ``RAG.retrieve`` directly, on one ingested collection.

    .venv/bin/python bench/interop.py                              # ../shared/evaldata/scifact
    .venv/bin/python bench/interop.py --limit 5 --limit-docs 50    # a check in seconds

Each query runs both ways, in alternating order, after a warm-up; prints p50 / p95 latency of
each, the p50 of the per-query difference (what the adapter adds), Recall@5 of each and
whether the rankings are identical (they must be: the adapter re-orders nothing). The corpus
(the first ``--limit-docs`` records plus the dev queries' judged documents) is written to a
temporary directory, never into the repository, and ingested with ``RAG.ingest``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # bench/peers.py: the dataset readers

K = 5


def default_dataset() -> Path:
    """``../shared/evaldata/scifact`` beside the checkout, else /work/shared's."""
    for path in (peers.DEFAULT_DATASET, Path("/work/shared/evaldata/scifact")):
        if path.is_dir():
            return path
    return peers.DEFAULT_DATASET


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--dataset", type=Path, default=default_dataset())
    p.add_argument("--limit", type=int, default=None, help="dev queries (default: all)")
    p.add_argument("--limit-docs", type=int, default=None, help="corpus records (default: all)")
    args = p.parse_args(argv)

    from langchain_core.documents import Document

    from rag import RAG
    from rag.evals.metrics import recall_at
    from rag.integrations.langchain import RagRetriever

    queries, qrels = peers.load_queries(args.dataset)
    if args.limit is not None:
        queries = dict(list(queries.items())[: args.limit])
    keep = {d for q in queries for d in qrels[q]}
    with tempfile.TemporaryDirectory(prefix="rag-interop-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        n = peers.write_corpus(
            args.dataset / "corpus.jsonl", corpus, limit=args.limit_docs, keep=keep
        )
        r = RAG(data_dir=Path(tmp) / "data", collection="interop")
        t0 = time.perf_counter()
        report = r.ingest(corpus)
        print(
            f"ingested {n} records, {report.chunks_total} chunks in "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        retriever = RagRetriever(rag=r, k=K)
        record: dict[str, str] = {}

        def direct(q: str) -> list[str]:
            hits = r.retrieve(q, k=K)
            for h in hits:
                record[h.chunk.id] = str(h.chunk.location.record)
            return [h.chunk.id for h in hits]

        def via_langchain(q: str) -> list[str]:
            docs: list[Document] = retriever.invoke(q)
            return [d.id or "" for d in docs]

        first = next(iter(queries.values()))
        direct(first), via_langchain(first)  # warm: model, index, caches
        times: dict[str, list[float]] = {"direct": [], "langchain": []}
        ranked: dict[str, dict[str, list[str]]] = {"direct": {}, "langchain": {}}
        ways: list[tuple[str, Any]] = [("direct", direct), ("langchain", via_langchain)]
        for i, (qid, q) in enumerate(queries.items()):
            for name, fn in ways if i % 2 == 0 else ways[::-1]:
                start = time.perf_counter()
                ids = fn(q)
                times[name].append((time.perf_counter() - start) * 1000)
                ranked[name][qid] = ids
        r.close()

    same = ranked["direct"] == ranked["langchain"]
    added = [b - a for a, b in zip(times["direct"], times["langchain"], strict=True)]
    print(f"\n{len(queries)} SciFact dev queries, k={K}, {n} corpus records\n")
    print("| path | p50 ms | p95 ms | Recall@5 |")
    print("|---|---|---|---|")
    for name in ("direct", "langchain"):
        docs = {
            q: peers.dedupe_docs(record.get(c, "?") for c in ids) for q, ids in ranked[name].items()
        }
        recall = sum(recall_at(docs[q], qrels[q], K) for q in docs) / len(docs)
        label = "RAG.retrieve" if name == "direct" else "RagRetriever.invoke (LangChain)"
        print(
            f"| {label} | {peers.percentile(times[name], 50):.2f} | "
            f"{peers.percentile(times[name], 95):.2f} | {recall:.3f} |"
        )
    print(
        f"\nadded by the adapter, p50 of per-query differences: "
        f"{peers.percentile(added, 50):.3f} ms; identical rankings: {same}"
    )
    if not same:
        raise SystemExit("the rankings differ: the adapter must return rag's ranking unchanged")


if __name__ == "__main__":
    main()
