"""The numbered source the answer tests build (``test_extractive_*.py``, ``test_grounding.py``):
a chunk of its own file, under a heading, or of one record of a JSONL file; which sentences
join the best one (``joined``); an answer only the type checks decline (``gate_declines``), and
one that declines until the page states the thing asked (``declined_until_stated``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rag.pipelines.answer_types import Counted, said_pattern
from rag.pipelines.companions import companions
from rag.pipelines.extractive import Composed, ExtractiveAnswerer
from rag.pipelines.extractive_rules import Candidate
from rag.types import Citation, Location

ONE_EN_PAGE: dict[str, Any] = {
    "lang": "en",
    "before": [""],
    "heads": [""],
    "headers": [""],
    "foreign": False,
}
"""``type_gate.declined``'s arguments for an English question over one sentence of one
untitled page: the tests vary only the question and what is quoted."""


def cite(
    number: int,
    text: str,
    *,
    heading: tuple[str, ...] = (),
    record: str | None = None,
    span: tuple[int, int] | None = None,
) -> Citation:
    """Source ``[number]``: ``/docs/{number}.md`` (under ``heading``), or with ``record`` a chunk
    of that record of ``/docs/facts.jsonl``, which other chunks of the record share (``span``:
    where in the record)."""
    return Citation(
        number=number,
        source=f"/docs/{number}.md" if record is None else "/docs/facts.jsonl",
        location=Location(heading_path=heading, record=record),
        chunk_id=f"c{number}" if record is None else f"{record}-{number}",
        text=text,
        score=1.0,
        span=span,
    )


def joined(
    order: Sequence[int],
    scores: Sequence[float],
    candidates: Sequence[Candidate],
    by_source: dict[int, list[int]],
    question: str,
    **options: Any,
) -> list[int]:
    """``companions`` with nothing asked for or followed and the answerer's second ratio, unless
    ``options`` say otherwise."""
    settings: dict[str, Any] = {
        "wants": None,
        "follow": False,
        "follow_continuing": False,
        "second_ratio": 0.9,
        "same_source_second": False,
    }
    return companions(
        order, scores, candidates, by_source, question=question, **(settings | options)
    )


def gate_declines(
    question: str, sources: Sequence[Citation], *, lang: str, **options: Any
) -> Composed:
    """The answer of ``ExtractiveAnswerer(**options)`` to ``question``, asserted abstained, where
    the same answerer without its ``type_gate`` answers: the type checks declined it, not the
    coverage or meaning gates. Its ``reason`` says which check."""
    ungated = ExtractiveAnswerer(type_gate=False, **options).compose(question, sources, lang=lang)
    assert not ungated.abstained, ungated
    declined = ExtractiveAnswerer(**options).compose(question, sources, lang=lang)
    assert declined.abstained, declined
    return declined


def answer_from(question: str, page: str) -> Composed:
    """The default answerer's English answer to ``question`` from ``page`` alone."""
    return ExtractiveAnswerer().compose(question, [cite(1, page)], lang="en")


def quotes(question: str, page: str, phrase: str) -> None:
    """The default answerer's English answer to ``question`` from ``page`` quotes ``phrase``."""
    answer = answer_from(question, page)
    assert phrase in answer.text, answer


def pattern_for(question: str) -> re.Pattern[str]:
    """What an answer to ``question`` must hold (``said_pattern``), a pattern and no count."""
    said = said_pattern(question)
    assert not isinstance(said, Counted), question
    return said


def answer_under(question: str, text: str, heading: tuple[str, ...]) -> Composed:
    """The default answerer's English answer to ``question`` from one source, ``text`` under
    ``heading``."""
    return ExtractiveAnswerer().compose(question, [cite(1, text, heading=heading)], lang="en")


def declined_until_stated(
    question: str, page: str, *, lang: str, reason: str, stated: str, answer: str
) -> None:
    """An answer from ``page`` declines at the type checks (``gate_declines``), its reason
    holding ``reason``; with ``stated`` added to the page, it quotes the ``answer``."""
    declined = gate_declines(question, [cite(1, page)], lang=lang)
    assert reason in declined.reason, declined
    told = ExtractiveAnswerer().compose(question, [cite(1, page + stated)], lang=lang)
    assert answer in told.text, told
