"""The FakeReranker shipped in rag.testing runs the reranker contract and scores by overlap."""

from __future__ import annotations

import pytest

from rag.rerankers import Reranker, keep_best
from rag.testing import FakeReranker
from rag.testing.reranker_contract import QUESTION, RerankerContract, make_hits


class TestFakeReranker(RerankerContract):
    @pytest.fixture
    def reranker(self) -> Reranker:
        return FakeReranker()


def test_fake_scores_by_question_word_overlap() -> None:
    hits = make_hits(["nothing shared here", "switch to pgvector", "the vector store pgvector"])
    out = FakeReranker().rerank(QUESTION, hits, 3)
    assert [h.chunk.id for h in out] == ["c2", "c1", "c0"]
    assert out[-1].score == 0.0 and out[0].score > out[1].score > 0


def test_keep_best_orders_stably_and_puts_nan_last() -> None:
    hits = make_hits(["a", "b", "c", "d"])
    out = keep_best(hits, [0.5, float("nan"), 0.9, 0.5], 4)
    assert [h.chunk.id for h in out] == ["c2", "c0", "c3", "c1"]
    assert [h.score for h in out[:3]] == [0.9, 0.5, 0.5]
    assert keep_best(hits, [1, 2, 3, 4], 2)[0].chunk.id == "c3"


def test_keep_best_needs_one_score_per_hit() -> None:
    with pytest.raises(ValueError):
        keep_best(make_hits(["a", "b"]), [1.0], 2)
