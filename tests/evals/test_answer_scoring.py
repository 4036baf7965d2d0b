"""``rag.evals.answers``: correctness, grounding, citation precision and abstention."""

from __future__ import annotations

from typing import Any, cast

from rag.evals.answers import Produced, judge, rag_answerer, score_answers
from rag.evals.datasets import Query
from rag.pipelines.grounding import SupportChecker
from rag.types import Answer, AnswerMode, Citation, Location, Usage

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
    # both answerable questions were given a source holding their gold answer ("pip" too)
    assert stats.sources_contain == 1.0
    assert [r.in_sources for r in stats.per_answer] == [True, True, None, None]
    assert stats.abstain_rate == 0.5
    # one supported sentence (q1) and one invented one (u2): half grounded, half precise
    assert stats.grounded == 0.5 and stats.citation_precision == 0.5
    assert stats.output_tokens > 0 and len(stats.per_answer) == 4
    assert [r.id for r in stats.per_answer if r.unanswerable] == ["u1", "u2"]


def test_sources_contain_is_the_share_whose_sources_hold_a_gold_answer() -> None:
    """The ceiling of an answer built from the sources: a gold answer retrieval never
    brought is missed by every answer mode alike."""
    queries = [
        Query("q1", "What is the default port?", {"d": 1}, ("5432",)),
        Query("q2", "What follows the moon?", {"d": 1}, ("tides",)),
        Query("q3", "Who wrote it?", {"d": 1}, ("Stonebraker",)),
    ]
    replies = {
        "What is the default port?": Produced("It is 5432 [1].", [SOURCE], False),
        "What follows the moon?": Produced("The sources do not say.", [SOURCE, OTHER], True),
        "Who wrote it?": Produced("The sources do not say.", [], True),
    }
    stats = score_answers(lambda q: replies[q], queries, SupportChecker(), lambda t: 1)
    assert [r.in_sources for r in stats.per_answer] == [True, True, False]
    assert stats.sources_contain == 2 / 3 and stats.answer_contains == 1 / 3


def test_an_extractive_answer_abstains_only_when_it_says_so() -> None:
    """A source sentence that reads like "I don't know" (모르고, 알 수 없어서) is an answer when
    the extractive answerer chose it; a generated one that only says so is an abstention."""
    text = "고혈압은 대부분 특별한 증상이 없어 모르고 지내기 쉽다 [1]."

    class Asked:
        def __init__(self, mode: AnswerMode) -> None:
            self.mode = mode

        def ask(self, question: str) -> Answer:
            usage = Usage(backend="extractive", model="rag")
            return Answer(question=question, text=text, citations=[], usage=usage, mode=self.mode)

    extractive = rag_answerer(cast(Any, Asked("extractive")))("고혈압을 왜 조용한 살인자라고 해?")
    generative = rag_answerer(cast(Any, Asked("generative")))("고혈압을 왜 조용한 살인자라고 해?")
    assert not extractive.abstained and generative.abstained
