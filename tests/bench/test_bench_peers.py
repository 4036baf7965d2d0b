"""The pure parts of ``bench/peers.py``: dataset reading, metrics, ratios, FLOPs and the
table. The peers themselves are not installed here (they live in ``.venv-bench``)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "peers.py"


@pytest.fixture(scope="module")
def peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_peers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module
    spec.loader.exec_module(module)
    return module


def test_percentile_interpolates_like_numpy(peers: ModuleType) -> None:
    xs = [10.0, 1.0, 4.0, 3.0, 2.0]
    assert peers.percentile(xs, 50) == 3.0
    assert peers.percentile(xs, 0) == 1.0
    assert peers.percentile(xs, 100) == 10.0
    # numpy.percentile([1, 2, 3, 4, 10], 95) == 8.8
    assert peers.percentile(xs, 95) == pytest.approx(8.8)
    assert math.isnan(peers.percentile([], 50))


def test_pair_ratios_pair_run_by_run(peers: ModuleType) -> None:
    assert peers.pair_ratios([10.0, 20.0], [5.0, 40.0]) == [2.0, 0.5]
    assert peers.pair_ratios([1.0], [0.0]) == [float("inf")]
    with pytest.raises(ValueError):
        peers.pair_ratios([1.0, 2.0], [1.0])


def test_doc_level_metrics_dedupe_chunks_at_best_rank(peers: ModuleType) -> None:
    ranked = peers.dedupe_docs(["a", "b", "a", "c", "b", "d"])
    assert ranked == ["a", "b", "c", "d"]
    assert peers.recall_at(ranked, {"c", "z"}, 5) == 0.5
    assert peers.recall_at(ranked, {"d"}, 3) == 0.0
    # one relevant doc at rank 2: DCG = 1/log2(3), ideal = 1
    assert peers.ndcg_at(ranked, {"b"}, 10) == pytest.approx(1 / math.log2(3))
    assert peers.ndcg_at(["x", "y"], {"x", "y"}, 10) == pytest.approx(1.0)
    assert peers.ndcg_at(ranked, set(), 10) == 0.0


def test_model_flops_counts_matmuls_and_attention(peers: ModuleType) -> None:
    arch = {"layers": 6, "hidden": 384, "intermediate": 1536}
    per_token = 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    assert per_token == pytest.approx(21.2e6, rel=0.01)  # ~2 x 10.6M non-embedding params
    assert peers.model_flops(1, **arch) == per_token + 6 * 4 * 384
    # attention grows with the square of the length
    extra = peers.model_flops(256, **arch) - 256 * per_token
    assert extra == 6 * 4 * 256 * 256 * 384


def test_qrels_queries_and_limited_corpus(peers: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "qrels.dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t1\nq2\td9\t0\n"
    )
    (tmp_path / "queries.dev.jsonl").write_text(
        json.dumps({"id": "q1", "text": "first"})
        + "\n"
        + json.dumps({"id": "q2", "text": "x"})
        + "\n"
    )
    records = [{"id": f"d{i}", "title": f"T{i}", "text": f"body {i}"} for i in range(1, 6)]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert peers.read_qrels(tmp_path / "qrels.dev.tsv") == {"q1": {"d1", "d3"}}
    queries, qrels = peers.load_queries(tmp_path, {"d3", "d4"})
    assert queries == {"q1": "first"} and qrels == {"q1": {"d3"}}
    out = tmp_path / "limited.jsonl"
    # the first record plus the judged d3, twice with distinct ids
    assert peers.write_corpus(tmp_path / "corpus.jsonl", out, limit=1, keep={"d3"}, copies=2) == 4
    ids = [r["id"] for r in peers.read_jsonl(out)]
    assert ids == ["d1", "d3", "d1-c1", "d3-c1"]
    assert peers.doc_text(records[0]) == "T1\n\nbody 1"
    assert peers.doc_text({"text": "only"}) == "only"


def test_aggregate_and_table_show_paired_ratios(peers: ModuleType) -> None:
    runs = [
        {
            "rag": {"ingest_s": 10.0, "ndcg_at_10": 0.7},
            "langchain": {"ingest_s": 20.0, "ndcg_at_10": 0.7},
        },
        {
            "rag": {"ingest_s": 30.0, "ndcg_at_10": 0.7},
            "langchain": {"ingest_s": 30.0, "ndcg_at_10": 0.7},
        },
    ]
    agg = peers.aggregate(runs)
    assert agg["median"]["rag"]["ingest_s"] == 20.0
    # paired: median(10/20, 30/30) = 0.75, not median(rag) / median(lc) = 20/25
    assert agg["ratio"]["langchain"]["ingest_s"] == pytest.approx(0.75)
    text = peers.table(agg)
    row = next(line for line in text.splitlines() if line.startswith("first ingest"))
    assert row.split()[-3:] == ["20.0", "25.0", "0.75"]


def test_chroma_stats_counts_text_in_documents_and_in_rag_metadata(
    peers: ModuleType, tmp_path: Path
) -> None:
    import chromadb
    import numpy as np

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    col = client.create_collection("bench", embedding_function=None)
    col.add(
        ids=["peer", "rag"],
        embeddings=np.eye(2, 3, dtype=np.float32),
        documents=["hello world", None],  # type: ignore[list-item]
        metadatas=[{"source": "p"}, {"rag_text": "hello big world"}],
    )
    out = tmp_path / "stats.json"
    peers.chroma_stats(tmp_path / "chroma", "bench", out, tokens=True)
    assert json.loads(out.read_text()) == {"count": 2, "token_counts": [4, 5]}
