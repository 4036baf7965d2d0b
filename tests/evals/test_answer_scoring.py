"""``rag.evals.answers``: correctness, grounding, citation precision and abstention."""

from __future__ import annotations

from rag.evals.answers import Produced, judge, score_answers
from rag.evals.datasets import Query
from rag.pipelines.grounding import SupportChecker
from rag.types import Citation, Location

SOURCE = Citation(
    number=1,
    source="/docs/pg.md",
    location=Location(),
    chunk_id="c1",
    text="The default port of PostgreSQL is 5432. Install the extra with pip.",
    score=1.0,
)
OTHER = SOURCE.model_copy(update={"number": 2, "chunk_id": "c2", "text": "Tides follow the moon."})


def test_judge_counts_supported_sentences_and_precise_citations() -> None:
    checker = SupportChecker()
    text = "The default port is 5432 [1]. Tides follow the moon [1]. It runs on port 9999 [2]."
    j = judge(checker, text, [SOURCE, OTHER], "en")
    assert (j.sentences, j.supported) == (3, 1)
    assert (j.cites, j.good_cites) == (3, 1)
    assert judge(checker, "The sources do not say.", [SOURCE], "en").sentences == 0


def test_score_answers_separates_answerable_and_unanswerable() -> None:
    queries = [
        Query("q1", "What is the default port?", {"d": 1}, ("5432",)),
        Query("q2", "How do I install it?", {"d": 1}, ("pip",)),
        Query("u1", "Who won in 1930?", {}, (), unanswerable=True),
        Query("u2", "What is the capital?", {}, (), unanswerable=True),
    ]
    replies = {
        "What is the default port?": Produced(
            "The default port of PostgreSQL is 5432 [1].", [SOURCE], False
        ),
        "How do I install it?": Produced("The sources do not say.", [SOURCE], True),
        "Who won in 1930?": Produced("The sources do not say.", [SOURCE], True),
        "What is the capital?": Produced("Paris is the capital [1].", [SOURCE], False),
    }
    stats = score_answers(lambda q: replies[q], queries, SupportChecker(), lambda t: len(t.split()))
    assert stats.scored == 2 and stats.unanswerable == 2
    assert stats.answer_contains == 0.5 and stats.false_abstain_rate == 0.5
    assert stats.abstain_rate == 0.5
    # one supported sentence (q1) and one invented one (u2): half grounded, half precise
    assert stats.grounded == 0.5 and stats.citation_precision == 0.5
    assert stats.output_tokens > 0 and len(stats.per_answer) == 4
    assert [r.id for r in stats.per_answer if r.unanswerable] == ["u1", "u2"]
