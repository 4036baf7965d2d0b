"""The answer-evaluation sets (``evals/data/en``, ``evals/data/ko``, ``evals/data/ko-large``)
and the loader's unanswerable questions: kept for answer scoring, never in retrieval metrics."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from tiny_set import write_tiny_set

from rag.config import load_settings
from rag.errors import ConfigError
from rag.evals import Dataset, load_dataset, run_eval
from rag.testing import FakeEmbedder

REPO = Path(__file__).resolve().parents[2]
EN = REPO / "evals" / "data" / "en"
KO = REPO / "evals" / "data" / "ko"
KO_LARGE = REPO / "evals" / "data" / "ko-large"


def _corpus(root: Path) -> dict[str, dict[str, str]]:
    rows = [json.loads(line) for line in (root / "corpus.jsonl").read_text("utf-8").splitlines()]
    return {row["id"]: row for row in rows}


def _qrels_doc_ids(root: Path) -> list[str]:
    lines = (root / "qrels.tsv").read_text("utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    return [line.split("\t")[1] for line in lines[1:] if line.strip()]


def _check_set(root: Path, ds: Dataset, *, english: bool, unanswerable: int = 15) -> None:
    """The checks both sets share: one gold record per answerable question, gold answers
    copied verbatim from that record (English: every one, ignoring case; Korean: at least one,
    the others may be the usual rewritings such as "24자" for "스물네 자"), unanswerable
    questions flagged and without qrels."""
    corpus = _corpus(root)
    assert set(_qrels_doc_ids(root)) <= set(corpus)  # every qrels doc id exists
    assert ds.unknown_qrels == 0 and ds.queries_without_qrels == 0
    for q in ds.queries:
        assert len(q.relevant) == 1, q.id
        assert not q.unanswerable and 1 <= len(q.answers) <= 3, q.id
        (doc,) = q.relevant
        text = corpus[doc]["text"]
        if english:
            for answer in q.answers:
                assert answer.lower() in text.lower(), (q.id, answer, doc)
        else:
            assert any(answer in text for answer in q.answers), (q.id, q.answers, doc)
    assert len(ds.unanswerable) == unanswerable
    for q in ds.unanswerable:
        assert q.unanswerable and q.relevant == {} and q.answers == (), q.id
    assert ds.answer_queries == [*ds.queries, *ds.unanswerable]
    texts = [q.text for q in ds.answer_queries]
    assert len(set(texts)) == len(texts)  # no question asked twice


def test_english_set_is_consistent() -> None:
    ds = load_dataset(EN)
    _check_set(EN, ds, english=True)
    assert len(ds.queries) >= 60
    assert all(re.fullmatch(r"en-q\d{3}", q.id) for q in ds.queries)
    assert [q.id for q in ds.unanswerable] == [f"en-u{i:02d}" for i in range(1, 16)]
    corpus = _corpus(EN)
    for doc_id, row in corpus.items():
        assert 300 <= len(row["text"]) <= 1500, doc_id
    # every record is asked about, and the questions are spread over examples/ and the rest
    gold = [next(iter(q.relevant)) for q in ds.queries]
    assert set(gold) == set(corpus)
    on_examples = sum(doc.startswith("ex-") for doc in gold)
    assert 0.35 <= on_examples / len(gold) <= 0.65
    # the demo question of issue #20 is in the set, with the pgvector section as its gold
    demo = [q for q in ds.queries if "pgvector" in q.text and "switch" in q.text.lower()]
    assert [next(iter(q.relevant)) for q in demo] == ["ex-stores-pgvector"]
    assert "CC0" in (EN / "README.md").read_text("utf-8")


def test_english_set_quotes_examples_verbatim() -> None:
    """The ``ex-*`` records are sections of ``examples/`` copied exactly. When this fails,
    an example file changed: cut the record again from the file (the README says where) and
    check that its questions' gold answers are still in it."""
    for doc_id, row in _corpus(EN).items():
        if not doc_id.startswith("ex-"):
            continue
        path = REPO / row["title"].split(" > ")[0]
        assert path.parent.name == "examples", doc_id
        assert row["text"] in path.read_text("utf-8"), doc_id
    for path in (REPO / "examples").iterdir():
        titles = " ".join(row["title"] for row in _corpus(EN).values())
        assert f"examples/{path.name}" in titles, f"{path.name} has no record in evals/data/en"


def test_korean_set_has_unanswerable_questions() -> None:
    ds = load_dataset(KO)
    _check_set(KO, ds, english=False)
    assert len(ds.queries) == 60
    assert [q.id for q in ds.unanswerable] == [f"ko-u{i:02d}" for i in range(1, 16)]
    assert all(sum("가" <= ch <= "힣" for ch in q.text) > 5 for q in ds.unanswerable)
    assert "unanswerable" in (KO / "README.md").read_text("utf-8")


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text("utf-8").splitlines() if line]


def test_korean_large_set_has_unanswerable_tune_questions() -> None:
    """evals/data/ko-large: 391 answerable questions split by hash into a tuning and a
    reporting half, plus 50 hand-written unanswerable questions in the tuning half only."""
    unanswerable = [f"kl-u{i:02d}" for i in range(1, 51)]
    ds = load_dataset(KO_LARGE)
    _check_set(KO_LARGE, ds, english=False, unanswerable=50)
    assert len(ds.queries) == 391
    assert [q.id for q in ds.unanswerable] == unanswerable
    assert all(sum("가" <= ch <= "힣" for ch in q.text) > 5 for q in ds.unanswerable)
    for name in ("queries.jsonl", "answers.jsonl"):
        ids = _ids(KO_LARGE / name)
        assert len(ids) == len(set(ids)) == 441, name
    # no qrels row names an unanswerable question, in any qrels file
    for name in ("qrels.tsv", "qrels.tune.tsv", "qrels.report.tsv"):
        rows = (KO_LARGE / name).read_text("utf-8").splitlines()[1:]
        assert not {row.split("\t")[0] for row in rows} & set(unanswerable), name

    tune = load_dataset(KO_LARGE, split="tune")
    assert len(tune.queries) == 197
    assert [q.id for q in tune.unanswerable] == unanswerable
    report = load_dataset(KO_LARGE, split="report")
    assert len(report.queries) == 194 and report.unanswerable == []
    assert not set(_ids(KO_LARGE / "queries.report.jsonl")) & set(unanswerable)
    # the split files follow split.py's rule: the hash for answerable questions, the
    # tuning half for unanswerable ones
    in_report = {q.id for q in report.queries}
    for q in ds.queries:
        odd = int(hashlib.sha256(q.id.encode()).hexdigest(), 16) % 2 == 1
        assert (q.id in in_report) == odd, q.id
    readme = (KO_LARGE / "README.md").read_text("utf-8")
    assert "unanswerable" in readme and "CC0" in readme


# --- the loader on a tiny set --------------------------------------------------------------


def _tiny(root: Path, answers: list[dict[str, object]], qrels_extra: str = "") -> Path:
    return write_tiny_set(
        root,
        answers=answers,
        extra_queries=[("u1", "who painted the ceiling of the sistine chapel")],
        qrels_extra=qrels_extra,
    )


UNANSWERABLE = {"id": "u1", "answers": [], "unanswerable": True}


def test_loader_keeps_unanswerable_apart(tmp_path: Path) -> None:
    root = _tiny(tmp_path / "t", [{"id": "q1", "answers": ["mice"]}, UNANSWERABLE])
    ds = load_dataset(root)
    assert [q.id for q in ds.queries] == ["q1", "q2", "q3"]
    assert not any(q.unanswerable for q in ds.queries)
    (u1,) = ds.unanswerable
    assert (u1.id, u1.relevant, u1.answers, u1.unanswerable) == ("u1", {}, (), True)
    assert ds.queries_without_qrels == 1  # q4 only: u1 is not counted as a skipped query
    assert [q.id for q in ds.answer_queries] == ["q1", "q2", "q3", "u1"]
    assert not any("u1" in note for note in ds.warnings)


@pytest.mark.parametrize(
    ("answers", "qrels_extra", "expected"),
    [
        (
            [{"id": "u1", "answers": ["Michelangelo"], "unanswerable": True}],
            "",
            r"answers\.jsonl, line 1: a query marked unanswerable has no gold answers",
        ),
        (
            [{"id": "q1", "answers": ["mice"]}, {"id": "u1", "answers": [], "unanswerable": 1}],
            "",
            r"answers\.jsonl, line 2: 'unanswerable' must be true or false",
        ),
        (
            [UNANSWERABLE],
            "u1\td2\t1\n",
            r"answers\.jsonl, line 1: query 'u1' is marked unanswerable but qrels\.tsv names",
        ),
    ],
)
def test_loader_unanswerable_errors(
    tmp_path: Path, answers: list[dict[str, object]], qrels_extra: str, expected: str
) -> None:
    root = _tiny(tmp_path / "bad", answers, qrels_extra)
    with pytest.raises(ConfigError, match=expected):
        load_dataset(root)


def test_unanswerable_queries_are_not_in_retrieval_metrics(tmp_path: Path) -> None:
    root = _tiny(tmp_path / "tiny", [{"id": "q1", "answers": ["mice"]}, UNANSWERABLE])
    settings = load_settings(store="memory", data_dir=tmp_path / "data")
    result = run_eval(
        root, {"dense": {"retrieval_mode": "dense"}}, settings=settings, embedder=FakeEmbedder()
    )
    assert result.queries == 3 and result.unanswerable_queries == 1
    assert result.queries_without_qrels == 1
    for row in result.configs:  # dense and the stuff baseline
        assert row.queries == 3
        assert [q.id for q in row.per_query] == ["q1", "q2", "q3"]
        # a question with no gold document would have pulled these down to 0.75
        assert row.recall[1] == 1.0 and row.mrr10 == 1.0


def test_english_tuning_set_loads_and_quotes_its_records() -> None:
    """evals/data/en-tune: the tuning-only set (never reported): gold answers verbatim from
    their one gold record, unanswerable questions apart, CC0."""
    root = REPO / "evals" / "data" / "en-tune"
    ds = load_dataset(root)
    corpus = _corpus(root)
    assert len(corpus) == 26
    assert len(ds.queries) == 139
    _check_set(root, ds, english=True, unanswerable=37)
    readme = (root / "README.md").read_text("utf-8")
    assert "CC0" in readme and "tuning" in readme
    # no record of the report sets is reused
    assert not set(corpus) & (set(_corpus(EN)) | set(_corpus(KO)))


@pytest.mark.parametrize(
    ("name", "answerable", "unanswerable"),
    [
        ("en-tune2", 80, 20),
        ("en-tune3", 75, 15),
        ("en-tune4", 62, 15),
        ("en-tune5", 62, 15),
        ("en-tune6", 62, 15),
        ("ko-tune2", 75, 20),
        ("ko-tune3", 66, 20),
        ("ko-tune4", 66, 20),
    ],
)
def test_each_fresh_tuning_set_quotes_its_records(
    name: str, answerable: int, unanswerable: int
) -> None:
    """The fresh tuning sets (never reported): gold answers copied from their one gold record,
    unanswerable questions apart, CC0, no record of the report sets reused."""
    root = REPO / "evals" / "data" / name
    ds = load_dataset(root)
    assert len(ds.queries) == answerable
    _check_set(root, ds, english=name.startswith("en"), unanswerable=unanswerable)
    readme = (root / "README.md").read_text("utf-8")
    assert "CC0" in readme and "tuning" in readme.lower()
    assert not set(_corpus(root)) & (set(_corpus(EN)) | set(_corpus(KO)))


def test_reworded_tuning_splits_ask_the_same_questions_in_other_words() -> None:
    """en-tune's ``para`` and ko-large's ``tune-para`` splits: the tuning questions again, same
    ids (so the same gold answers and qrels), every one reworded, flags and variables kept."""
    code = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|(?<!\w)--[a-z][\w-]*")
    en_tune = REPO / "evals" / "data" / "en-tune"
    for root, split, original, count in (
        (en_tune, "para", None, 176),
        (KO_LARGE, "tune-para", "tune", 247),
    ):
        plain = load_dataset(root, split=original)
        reworded = load_dataset(root, split=split)
        pairs = list(
            zip(
                [*plain.queries, *plain.unanswerable],
                [*reworded.queries, *reworded.unanswerable],
                strict=True,
            )
        )
        assert len(pairs) == count
        for a, b in pairs:
            assert (a.id, a.answers, a.relevant) == (b.id, b.answers, b.relevant)
            assert a.text != b.text
            assert set(code.findall(a.text)) <= set(code.findall(b.text)), b.id


def test_fresh_tuning_sets_load_and_quote_their_records() -> None:
    """evals/data/en-tune2, ko-tune2, en-tune3 (one product's docs), ko-tune6, en-tune8,
    ko-tune7, en-tune9, en-tune10, en-tune11, en-tune12, en-tune13, en-tune14, en-tune15,
    en-tune16, en-tune17, en-tune18, en-tune19, en-tune20, en-tune21, en-tune22, en-tune23 and
    en-tune24:
    tuning-only sets written from scratch on new topics,
    without reading the answerer, to see whether its rules carry over (never reported)."""
    for name, english, records, answerable, unanswerable in (
        ("en-tune2", True, 22, 80, 20),
        ("ko-tune2", False, 25, 75, 20),
        ("en-tune3", True, 20, 75, 15),
        ("ko-tune6", False, 22, 66, 20),
        ("en-tune8", True, 19, 60, 15),
        ("ko-tune7", False, 22, 66, 20),
        ("en-tune9", True, 18, 60, 15),
        ("en-tune10", True, 22, 80, 20),
        ("en-tune11", True, 22, 80, 20),
        ("en-tune12", True, 22, 80, 20),
        ("en-tune13", True, 22, 80, 20),
        ("en-tune14", True, 22, 80, 20),
        ("en-tune15", True, 22, 80, 20),
        ("en-tune16", True, 22, 80, 20),
        ("en-tune17", True, 22, 80, 20),
        ("en-tune18", True, 22, 80, 20),
        ("en-tune19", True, 22, 80, 20),
        ("en-tune20", True, 22, 80, 20),
        ("en-tune21", True, 22, 80, 20),
        ("en-tune22", True, 21, 78, 15),
        ("en-tune23", True, 21, 78, 15),
        ("en-tune24", True, 21, 78, 15),
    ):
        root = REPO / "evals" / "data" / name
        ds = load_dataset(root)
        corpus = _corpus(root)
        assert (len(corpus), len(ds.queries)) == (records, answerable)
        _check_set(root, ds, english=english, unanswerable=unanswerable)
        readme = (root / "README.md").read_text("utf-8")
        assert "CC0" in readme and "tuning" in readme.lower()
        others = (
            "en",
            "ko",
            "en-tune",
            "ko-large",
            *(o for o in ("en-tune2", "ko-tune2") if o != name),
        )
        titles = {r["title"] for o in others for r in _corpus(REPO / "evals" / "data" / o).values()}
        assert not {r["title"] for r in corpus.values()} & titles
