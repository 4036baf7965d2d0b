"""rag.evals: metrics against hand-computed values, the BEIR loader's errors, the runner end
to end on a tiny dataset, the packaged Korean set, and ``rag eval`` on it (slow)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from tiny_set import ANSWERS, write_tiny_set

from rag.config import load_settings
from rag.errors import ConfigError
from rag.evals import (
    char_f1,
    doc_ranking,
    exact_match,
    load_dataset,
    mrr_at,
    ndcg_at,
    parse_configs,
    plain_table,
    recall_at,
    run_eval,
    to_html,
    to_json,
    token_f1,
)
from rag.evals.metrics import best_answer_scores, percentile
from rag.testing import FakeEmbedder, ScriptedLLM
from rag.types import Chunk, Location, ScoredChunk

KO = Path(__file__).resolve().parents[2] / "evals" / "data" / "ko"


# --- metrics -------------------------------------------------------------------------------


def test_recall_and_mrr_by_hand() -> None:
    ranked = ["a", "x", "b", "y", "c"]
    rel = {"a": 1, "b": 1, "c": 1, "z": 1}
    assert recall_at(ranked, rel, 1) == 0.25
    assert recall_at(ranked, rel, 3) == 0.5
    assert recall_at(ranked, rel, 5) == 0.75
    assert mrr_at(["x", "y", "b"], rel, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x", "y", "b"], rel, 2) == 0.0
    assert recall_at(ranked, {}, 5) == 0.0


def test_ndcg_binary_by_hand() -> None:
    # relevant at ranks 2 and 3 of 2 relevant docs:
    # DCG = 1/log2(3) + 1/log2(4) = 0.63093 + 0.5; IDCG = 1 + 1/log2(3) = 1.63093
    got = ndcg_at(["x", "a", "b"], {"a": 1, "b": 1}, 10)
    assert got == pytest.approx((1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))
    assert got == pytest.approx(0.6934, abs=1e-4)
    assert ndcg_at(["a", "b"], {"a": 1, "b": 1}) == pytest.approx(1.0)
    assert ndcg_at(["x"], {"a": 1}) == 0.0


def test_ndcg_graded_by_hand() -> None:
    # grades a=2, b=1, ranking [b, a]: DCG = (2^1-1)/1 + (2^2-1)/log2(3) = 1 + 3/1.58496
    # IDCG = 3/1 + 1/log2(3)
    got = ndcg_at(["b", "a"], {"a": 2, "b": 1})
    assert got == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert got == pytest.approx(0.7967, abs=1e-4)


def test_ndcg_cut_at_k_uses_ideal_of_k() -> None:
    # 3 relevant docs, k=2, both top-2 relevant -> perfect at 2
    assert ndcg_at(["a", "b", "x"], {"a": 1, "b": 1, "c": 1}, 2) == pytest.approx(1.0)


def _hit(record: str | None, text: str = "t", source: str = "/c.jsonl") -> ScoredChunk:
    chunk = Chunk(
        id=f"{record}-{text}",
        text=text,
        source=source,
        location=Location(record=record),
        content_hash=text,
    )
    return ScoredChunk(chunk=chunk, score=1.0)


def test_doc_ranking_uses_best_chunk_per_record() -> None:
    hits = [_hit("d2", "x"), _hit("d1", "y"), _hit("d2", "z"), _hit(None, "w", "/other.md")]
    assert doc_ranking(hits) == ["d2", "d1", "/other.md"]


def test_exact_match_and_token_f1() -> None:
    assert exact_match("The Eiffel Tower!", "eiffel tower") == 1.0
    assert exact_match("Eiffel", "eiffel tower") == 0.0
    # pred {paris, france}, gold {paris}: P=1/2, R=1 -> F1 = 2/3
    assert token_f1("Paris, France", "the Paris") == pytest.approx(2 / 3)
    assert token_f1("London", "Paris") == 0.0


def test_typographic_dashes_and_minus_are_punctuation() -> None:
    assert best_answer_scores("It is −459.67 degrees Fahrenheit [1].", ["459.67"])[2] == 1.0
    assert best_answer_scores("In the 1932–33 season [1].", ["1932-33"])[2] == 1.0
    assert exact_match("1932—33", "1932-33") == 1.0
    assert best_answer_scores("It is 1459.67 degrees [1].", ["459.67"])[2] == 0.0


def test_korean_char_f1() -> None:
    # pred "우륵입니다" chars {우,륵,입,니,다}, gold "우륵": P=2/5, R=1 -> F1 = 4/7
    assert char_f1("우륵입니다", "우륵") == pytest.approx(4 / 7)
    assert char_f1("사건의 지평선", "사건의지평선") == 1.0  # spaces ignored
    em, f1, contains = best_answer_scores("정답은 우륵입니다 [1].", ["우륵"])
    assert em == 0.0
    # normalized "정답은 우륵입니다 1": 9 non-space chars, 2 shared: P=2/9, R=1 -> F1=4/11
    assert f1 == pytest.approx(4 / 11)
    assert contains == 1.0
    assert best_answer_scores("x", []) == (0.0, 0.0, 0.0)


def test_percentile() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert percentile([0, 100], 95) == pytest.approx(95.0)


# --- datasets ------------------------------------------------------------------------------


def _write_dataset(root: Path, *, qrels_extra: str = "", answers: bool = True) -> Path:
    return write_tiny_set(root, answers=ANSWERS if answers else None, qrels_extra=qrels_extra)


def test_loader_reads_and_counts(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "tiny", qrels_extra="q3\tghost\t1\nq2\tghost2\t1\n")
    with pytest.warns(UserWarning, match="2 qrels rows name documents not in corpus"):
        ds = load_dataset(root)
    assert ds.name == "tiny"
    assert ds.doc_ids == {"d1", "d2", "d3", "d4"}
    assert [q.id for q in ds.queries] == ["q1", "q2", "q3"]
    assert ds.unknown_qrels == 2
    assert ds.queries_without_qrels == 1  # q4
    assert ds.queries[2].relevant == {"d3": 2}
    assert ds.queries[0].answers == ("mice",)
    assert ds.queries[1].answers == ()


def test_loader_split_files(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "s", answers=False)
    (root / "qrels.tsv").rename(root / "qrels.dev.tsv")
    ds = load_dataset(root, split="dev")
    assert len(ds.queries) == 3
    with pytest.raises(ConfigError, match=r"qrels\.test\.tsv"):
        load_dataset(root, split="test")


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        (
            "corpus.jsonl",
            '{"id": "d1", "text": "ok"}\n{"id": "d2", "text": \n',
            r"corpus\.jsonl, line 2: not valid JSON",
        ),
        (
            "corpus.jsonl",
            '{"id": "d1", "text": "ok"}\n\n{"id": "d2"}\n',
            r"corpus\.jsonl, line 3: missing field 'text'",
        ),
        (
            "corpus.jsonl",
            '{"id": "d1", "text": "a"}\n{"id": "d1", "text": "b"}\n',
            r"line 2: duplicate document id",
        ),
        (
            "queries.jsonl",
            '{"id": "q1", "text": "x"}\n["a list"]\n',
            r"queries\.jsonl, line 2: expected a JSON object",
        ),
        (
            "qrels.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\n",
            r"qrels\.tsv, line 3: expected 3 tab-separated columns",
        ),
        ("qrels.tsv", "q1\td1\thigh\n", r"qrels\.tsv, line 1: score 'high' is not a number"),
        (
            "answers.jsonl",
            '{"id": "q1", "answers": [1, 2]}\n',
            r"answers\.jsonl, line 1: 'answers' must be a list",
        ),
    ],
)
def test_loader_errors_name_file_and_line(
    tmp_path: Path, file: str, content: str, expected: str
) -> None:
    root = _write_dataset(tmp_path / "bad")
    (root / file).write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_dataset(root)


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl", "qrels.tsv"])
def test_loader_missing_file(tmp_path: Path, missing: str) -> None:
    root = _write_dataset(tmp_path / "m")
    (root / missing).unlink()
    with pytest.raises(ConfigError, match=f"missing {missing.replace('.', r'.')}"):
        load_dataset(root)


def test_loader_no_matching_ids(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "n")
    (root / "qrels.tsv").write_text("zz\td1\t1\n")
    with pytest.raises(ConfigError, match=r"no query in queries\.jsonl has a relevant document"):
        load_dataset(root)


def test_korean_set_is_consistent() -> None:
    ds = load_dataset(KO)
    assert len(ds.doc_ids) >= 20
    assert len(ds.queries) == 60
    assert ds.unknown_qrels == 0 and ds.queries_without_qrels == 0
    assert all(q.answers for q in ds.queries)
    per_doc: dict[str, int] = {}
    for q in ds.queries:
        assert len(q.relevant) == 1, q.id  # exactly one gold passage
        (doc,) = q.relevant
        assert q.id.startswith(doc)
        per_doc[doc] = per_doc.get(doc, 0) + 1
    assert set(per_doc.values()) == {3}
    for line in (KO / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        assert 400 <= len(text) <= 900
        assert sum("가" <= ch <= "힣" for ch in text) > len(text) / 2
    assert "LoRA" in (KO / "corpus.jsonl").read_text(encoding="utf-8")
    assert (KO / "README.md").read_text(encoding="utf-8").count("CC0") >= 1


# --- configs -------------------------------------------------------------------------------


def test_parse_configs() -> None:
    got = parse_configs(["dense=retrieval_mode=dense,top_k=3", "base", "h=mmr=true"])
    assert got == {
        "dense": {"retrieval_mode": "dense", "top_k": "3"},
        "base": {},
        "h": {"mmr": "true"},
    }
    with pytest.raises(ConfigError, match="is not setting=value"):
        parse_configs(["x=retrieval_mode"])
    with pytest.raises(ConfigError, match="used twice"):
        parse_configs(["a", "a"])


# --- runner end to end ---------------------------------------------------------------------


def test_run_eval_end_to_end_tiny(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "tiny")
    settings = load_settings(store="memory", data_dir=tmp_path / "data")
    llm = ScriptedLLM(["They hunt mice [1]."])
    result = run_eval(
        root,
        {"dense": {"retrieval_mode": "dense"}, "dense2": {"retrieval_mode": "dense", "top_k": 1}},
        settings=settings,
        embedder=FakeEmbedder(),
        llm=llm,
        answers=True,
    )
    assert result.collection == "eval-tiny"
    assert result.documents == 4 and result.queries == 3
    assert result.queries_without_qrels == 1
    assert result.tokenizer == "fake:scripted"
    assert [c.name for c in result.configs] == ["dense", "dense2", "stuff", "naive"]
    dense = result.row("dense")
    # FakeEmbedder hashes words: each question shares distinctive words with its doc only
    assert dense.recall[1] == 1.0 and dense.mrr10 == 1.0 and dense.ndcg10 == pytest.approx(1.0)
    assert dense.per_query[0].ranked[0] == "d1"
    assert dense.latency_p95_ms >= dense.latency_p50_ms > 0
    # top_k=1 sends one source instead of four
    assert result.row("dense2").context_tokens_mean < dense.context_tokens_mean
    stuff = result.row("stuff")
    assert stuff.baseline and "1,000-character" in stuff.note
    assert stuff.recall[5] == dense.recall[5]
    # answers: q1 and q3 have gold answers; the scripted reply contains "mice"
    assert dense.answers is not None and dense.answers.scored == 2
    assert dense.answers.answer_contains == 0.5
    # the scripted reply is generated (no parameter count: generative) and then checked
    assert dense.answers.output_tokens > 0 and dense.answers.latency_mean_s > 0
    naive = result.row("naive")
    assert naive.answers_only and naive.baseline and naive.answers is not None
    assert naive.answers.scored == 2 and naive.answers.grounded == 1.0
    assert "answers" in plain_table(result) and "naive (baseline)" in plain_table(result)
    assert dense.answers.cost_usd == 0
    assert llm.prompts  # generation really happened
    assert "stuff (baseline)" in plain_table(result)
    data = json.loads(to_json(result))
    assert data["configs"][0]["recall"]["5"] == 1.0
    assert json.loads(to_json(result, per_query=False))["configs"][0].get("per_query") is None


def test_run_eval_rejects_ingest_settings_in_configs(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "tiny")
    settings = load_settings(store="memory", data_dir=tmp_path / "data")
    with pytest.raises(ConfigError, match="chunk_tokens: ingest settings are shared"):
        run_eval(root, {"x": {"chunk_tokens": 100}}, settings=settings, embedder=FakeEmbedder())
    with pytest.raises(ConfigError, match=r"(?s)config 'y'.*setting 'top_k'"):
        run_eval(root, {"y": {"top_k": "many"}}, settings=settings, embedder=FakeEmbedder())


def test_rerun_is_incremental_on_chroma(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "tiny", answers=False)
    settings = load_settings(data_dir=tmp_path / "data")
    cfg = {"dense": {"retrieval_mode": "dense"}}
    first = run_eval(root, cfg, settings=settings, embedder=FakeEmbedder(), llm=ScriptedLLM())
    again = run_eval(root, cfg, settings=settings, embedder=FakeEmbedder(), llm=ScriptedLLM())
    assert first.chunks_written > 0
    assert again.chunks_written == 0
    assert again.row("dense").recall == first.row("dense").recall


def test_html_report_embeds_charts(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    root = _write_dataset(tmp_path / "tiny", answers=False)
    settings = load_settings(store="memory", data_dir=tmp_path / "data")
    result = run_eval(root, None, settings=settings, embedder=FakeEmbedder(), llm=ScriptedLLM())
    page = to_html(result)
    assert page.count("data:image/png;base64,") == 3
    assert "<td>stuff (baseline)</td>" in page


# --- the CLI with the real packaged model on the Korean set --------------------------------


@pytest.mark.slow
def test_cli_eval_korean_limit(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    out = tmp_path / "r.json"
    html = tmp_path / "r.html"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(KO),
            "--limit",
            "10",
            "--data-dir",
            str(tmp_path / "data"),
            "--json",
            str(out),
            "--html",
            str(html),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["queries"] == 10 and data["documents"] == 20
    rows = {c["name"]: c for c in data["configs"]}
    assert list(rows) == ["dense", "keyword", "hybrid", "stuff"]
    # particles and endings stripped: keyword search finds the Korean passages
    assert rows["keyword"]["recall"]["5"] >= 0.8
    assert rows["hybrid"]["recall"]["5"] >= rows["dense"]["recall"]["5"]
    # the concise default prompt is far smaller than the top-4 stuff prompt
    assert rows["stuff"]["context_tokens_mean"] > 2 * rows["hybrid"]["context_tokens_mean"]
    assert "R@5" in result.output
    assert html.read_text().count("data:image/png;base64,") == 3
