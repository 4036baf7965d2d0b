"""The Reranker contract suite: every reranker runs these tests.

Subclass ``RerankerContract`` in your reranker's test module and override the ``reranker``
fixture::

    from rag.testing.reranker_contract import RerankerContract

    class TestMyReranker(RerankerContract):
        @pytest.fixture
        def reranker(self):
            return MyReranker(...)

The tests check the shape of the contract (``rag.rerankers.base``), not the quality of the
scores: any model, even an untrained one, must pass. Each test's docstring says what to
check when it fails. Hits are built by hand (``make_hits``), so no store is involved.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.rerankers.base import Reranker
from rag.types import Chunk, ScoredChunk

__all__ = ["QUESTION", "TEXTS", "RerankerContract", "make_hits"]

QUESTION = "how do I switch the vector store to pgvector?"
TEXTS = (
    "To switch to pgvector, set store = 'pgvector' and pg_dsn in rag.toml.",
    "Chroma is the default vector store and runs embedded in the data directory.",
    "The cat sat on the mat and looked at the dog.",
    "Keyword search ranks chunks by BM25 over their terms.",
    "pgvector keeps vectors in PostgreSQL next to your other tables.",
    "A question about the weather in spring.",
)


def make_hits(texts: Sequence[str] = TEXTS, *, prefix: str = "c") -> list[ScoredChunk]:
    """One hit per text, ids ``c0, c1, ...``, retrieval scores falling from 1.0."""
    return [
        ScoredChunk(
            chunk=Chunk(
                id=f"{prefix}{i}",
                text=text,
                source=f"/docs/{prefix}{i}.md",
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            ),
            score=1.0 - i / 100,
        )
        for i, text in enumerate(texts)
    ]


def _ids(hits: Sequence[ScoredChunk]) -> list[str]:
    return [h.chunk.id for h in hits]


class RerankerContract:
    """What every ``Reranker`` must do. Override the ``reranker`` fixture."""

    @pytest.fixture
    def reranker(self) -> Reranker:
        raise NotImplementedError("override the 'reranker' fixture in your test class")

    def test_satisfies_protocol(self, reranker: Reranker) -> None:
        """It is a ``Reranker`` with a non-empty ``name``. If not: add the ``name`` attribute
        (reports and eval tables show it) and a ``rerank(question, hits, k)`` method."""
        assert isinstance(reranker, Reranker)
        assert isinstance(reranker.name, str) and reranker.name

    def test_empty_in_empty_out(self, reranker: Reranker) -> None:
        """No hits in, no hits out, without calling the model. If not: return ``[]`` early
        (a model given zero pairs may fail or return a malformed array)."""
        assert reranker.rerank(QUESTION, [], 5) == []

    def test_k_zero_returns_nothing(self, reranker: Reranker) -> None:
        """``k <= 0`` asks for nothing. If not: cut to ``max(k, 0)``, not ``hits[:k]`` (a
        negative slice keeps almost everything)."""
        hits = make_hits()
        assert reranker.rerank(QUESTION, hits, 0) == []
        assert reranker.rerank(QUESTION, hits, -1) == []

    def test_returns_at_most_k(self, reranker: Reranker) -> None:
        """At most ``k`` hits, and all of them when there are fewer than ``k``. If not: check
        the cut happens after sorting and that short inputs are not padded."""
        hits = make_hits()
        assert len(reranker.rerank(QUESTION, hits, 3)) == 3
        assert len(reranker.rerank(QUESTION, hits, 1)) == 1
        assert len(reranker.rerank(QUESTION, hits, 50)) == len(hits)

    def test_only_given_hits_each_once(self, reranker: Reranker) -> None:
        """Every returned hit is one of the inputs (same chunk, unchanged), none twice. If
        not: build results from the input chunks, never from the model's output text, and
        map scores back by position."""
        hits = make_hits()
        out = reranker.rerank(QUESTION, hits, len(hits))
        assert sorted(_ids(out)) == sorted(_ids(hits))
        by_id = {h.chunk.id: h.chunk for h in hits}
        assert all(h.chunk == by_id[h.chunk.id] for h in out)

    def test_duplicate_input_returned_once(self, reranker: Reranker) -> None:
        """A hit given twice (same chunk id) comes back once. If not: drop repeated chunk ids
        (``rag.rerankers.keep_best`` does)."""
        hits = make_hits()
        out = reranker.rerank(QUESTION, [*hits, hits[0]], len(hits) + 1)
        assert len(_ids(out)) == len(set(_ids(out))) == len(hits)

    def test_best_first_with_finite_scores(self, reranker: Reranker) -> None:
        """Scores are finite floats, non-increasing down the list. If not: sort by the new
        score, descending, and replace each hit's score with the reranker's."""
        out = reranker.rerank(QUESTION, make_hits(), 6)
        scores = [h.score for h in out]
        assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
        assert scores == sorted(scores, reverse=True)

    def test_top_k_is_prefix_of_full_ranking(self, reranker: Reranker) -> None:
        """Asking for fewer hits gives the head of the full ranking. If not: the cut must not
        change how hits are scored or ordered (score every hit, then cut)."""
        hits = make_hits()
        full = reranker.rerank(QUESTION, hits, len(hits))
        assert _ids(reranker.rerank(QUESTION, hits, 2)) == _ids(full)[:2]

    def test_ties_keep_input_order(self, reranker: Reranker) -> None:
        """Hits with the same text score the same and stay in their input order. If not: use
        a stable sort on the score alone (never on the text or id)."""
        hits = make_hits([TEXTS[0]] * 4)
        assert _ids(reranker.rerank(QUESTION, hits, 4)) == ["c0", "c1", "c2", "c3"]
        reverse = list(reversed(hits))
        assert _ids(reranker.rerank(QUESTION, reverse, 4)) == ["c3", "c2", "c1", "c0"]

    def test_input_not_modified(self, reranker: Reranker) -> None:
        """The caller's hits keep their retrieval scores and order. If not: return new
        ``ScoredChunk`` values instead of setting ``score`` on the given ones."""
        hits = make_hits()
        before = [h.model_copy(deep=True) for h in hits]
        reranker.rerank(QUESTION, hits, 3)
        assert hits == before

    def test_deterministic(self, reranker: Reranker) -> None:
        """The same call gives the same ranking and scores. If not: put the model in eval
        mode (no dropout) and keep no state between calls."""
        hits = make_hits()
        first = reranker.rerank(QUESTION, hits, 4)
        second = reranker.rerank(QUESTION, hits, 4)
        assert _ids(first) == _ids(second)
        assert [h.score for h in first] == pytest.approx([h.score for h in second], abs=1e-5)

    def test_concurrent_calls(self, reranker: Reranker) -> None:
        """Calls from several threads at once give each caller its own right answer. If not:
        guard the model with a lock (Hugging Face fast tokenizers raise 'Already borrowed'
        when shared), and keep per-call values local."""
        questions = [QUESTION, "what is BM25 keyword search?", "where does chroma keep data?"]
        hits = make_hits()
        expected = {q: _ids(reranker.rerank(q, hits, 3)) for q in questions}
        with ThreadPoolExecutor(max_workers=4) as pool:
            jobs = [(q, pool.submit(reranker.rerank, q, hits, 3)) for q in questions * 4]
            for question, job in jobs:
                assert _ids(job.result()) == expected[question]
