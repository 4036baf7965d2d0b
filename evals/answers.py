"""Answer scoring for ``rag eval --answers``: is the answer right, grounded, cited, honest?

Per config, over the answerable questions (gold answers) and the unanswerable ones
(``"unanswerable": true`` in answers.jsonl):

* ``answer_em`` / ``answer_f1`` / ``answer_contains`` — exact match, token F1 (character F1
  for Korean) and "the answer contains a gold answer", against the best gold answer;
* ``grounded`` — the share of answer sentences supported by a source they cite, and
  ``citation_precision`` — the share of cited sources that support their sentence, both from
  one ``SupportChecker`` applied to every config's final text the same way (abstaining
  sentences are not counted);
* ``sources_contain`` — answerable questions whose sources (every one given to the answer
  step) hold a gold answer: the most an answer built from the sources' own sentences can
  reach, so a miss reads as retrieval's or the answer step's;
* ``abstain_rate`` — unanswerable questions answered with "the sources do not say", and
  ``false_abstain_rate`` — answerable questions abstained on;
* ``output_tokens`` — tokens of the answer text per answer (the answering model's
  tokenizer; an extractive answer calls no model, its text is counted all the same), and
  latency per answer (retrieval included).

``naive_answer`` is the baseline every answer mode must beat: the sentence of the top source
that shares the most terms with the question.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from rag.evals.datasets import Query
from rag.evals.metrics import best_answer_scores, contains_gold, percentile

if TYPE_CHECKING:
    from rag.api import RAG
    from rag.pipelines.grounding import SupportChecker
    from rag.types import Citation


class AnswerRow(BaseModel):
    """One question's answer under one config."""

    id: str
    answer: str
    unanswerable: bool = False
    em: float = 0.0
    f1: float = 0.0
    contains: float = 0.0
    in_sources: bool | None = None
    """A gold answer is in the sources' text (None: unanswerable)."""
    abstained: bool = False
    grounded: float | None = None
    output_tokens: int = 0
    latency_s: float = 0.0


class AnswerStats(BaseModel):
    """End-to-end answer quality and what producing the answers cost (module docstring)."""

    scored: int
    """Answerable questions scored."""
    unanswerable: int = 0
    answer_em: float
    answer_f1: float
    answer_contains: float
    sources_contain: float = 0.0
    """Share of answerable questions whose sources hold a gold answer (the ceiling)."""
    grounded: float | None = None
    citation_precision: float | None = None
    abstain_rate: float | None = None
    """Share of the unanswerable questions abstained on (None: the set has none)."""
    false_abstain_rate: float = 0.0
    output_tokens: float = 0.0
    """Mean tokens per answer."""
    input_tokens: int = 0
    """Prompt tokens sent to models, summed (0 for extractive answers)."""
    latency_mean_s: float = 0.0
    latency_p50_s: float = 0.0
    cost_usd: Decimal | None = Decimal(0)
    """``None`` when some call's price was unknown (never a silent zero)."""
    model: str = ""
    per_answer: list[AnswerRow] = Field(default_factory=list)


@dataclass(frozen=True)
class Produced:
    """What an answer mode produced for one question."""

    text: str
    citations: Sequence[Citation]
    abstained: bool
    input_tokens: int = 0
    cost: Decimal | None = Decimal(0)
    model: str = ""


Answerer = Callable[[str], Produced]


def rag_answerer(r: RAG) -> Answerer:
    """``RAG.ask`` as an answerer (whatever ``answer_mode`` its settings give)."""
    from rag.pipelines.grounding import is_abstention, split_claims

    def answer(question: str) -> Produced:
        a = r.ask(question)
        claims = split_claims(a.text)
        # an extractive answer says whether it abstained: its text is the sources' own
        # sentences, which may read like one ("... 모르고 지내기 쉬워 ...") without being one
        abstained = a.abstained or (
            a.mode != "extractive" and bool(claims) and all(is_abstention(c) for c in claims)
        )
        return Produced(
            a.text,
            a.citations,
            abstained,
            a.usage.input_tokens,
            a.usage.cost,
            f"{a.usage.backend}:{a.usage.model}",
        )

    return answer


def naive_answerer(r: RAG) -> Answerer:
    """The sentence of the top source sharing the most terms with the question, cited."""
    from rag.pipelines.prompt import split_sentences

    terms = r.keyword_tokenizer.tokenize_batch

    def answer(question: str) -> Produced:
        prepared = r.prepare(question)
        if not prepared.citations:
            return Produced("", (), False, model="naive")
        top = prepared.citations[0]
        sentences = [s.strip() for s in split_sentences(top.text) if s.strip()]
        term_lists = terms([question, *sentences])
        q = set(term_lists[0])
        best = max(range(len(sentences)), key=lambda i: (len(q & set(term_lists[i + 1])), -i))
        return Produced(
            f"{sentences[best]} [{top.number}]", prepared.citations, False, model="naive"
        )

    return answer


def score_answers(
    answer: Answerer,
    queries: Sequence[Query],
    checker: SupportChecker,
    count_tokens: Callable[[str], int],
) -> AnswerStats:
    """Answer every query with gold answers or marked unanswerable, and score (module doc)."""
    from rag.chunking import detect_lang

    rows: list[AnswerRow] = []
    supported = sentences = good_cites = cites = input_tokens = 0
    cost: Decimal | None = Decimal(0)
    model = ""
    for q in queries:
        if not q.answers and not q.unanswerable:
            continue
        started = time.perf_counter()
        got = answer(q.text)
        latency = time.perf_counter() - started
        model = got.model or model
        input_tokens += got.input_tokens
        cost = None if cost is None or got.cost is None else cost + got.cost
        row = AnswerRow(
            id=q.id,
            answer=got.text,
            unanswerable=q.unanswerable,
            abstained=got.abstained,
            output_tokens=count_tokens(got.text) if got.text else 0,
            latency_s=latency,
        )
        if q.answers:
            row.em, row.f1, row.contains = best_answer_scores(got.text, q.answers)
            held = "\n".join(c.text for c in got.citations)
            row.in_sources = contains_gold(held, q.answers)
        if not got.abstained and got.text:
            g = judge(checker, got.text, got.citations, detect_lang(q.text))
            supported, sentences = supported + g.supported, sentences + g.sentences
            good_cites, cites = good_cites + g.good_cites, cites + g.cites
            row.grounded = g.supported / g.sentences if g.sentences else None
        rows.append(row)
    answerable = [r for r in rows if not r.unanswerable]
    unanswerable = [r for r in rows if r.unanswerable]
    n = len(answerable) or 1
    latencies = [r.latency_s for r in rows]
    return AnswerStats(
        scored=len(answerable),
        unanswerable=len(unanswerable),
        answer_em=sum(r.em for r in answerable) / n,
        answer_f1=sum(r.f1 for r in answerable) / n,
        answer_contains=sum(r.contains for r in answerable) / n,
        sources_contain=sum(bool(r.in_sources) for r in answerable) / n,
        grounded=supported / sentences if sentences else None,
        citation_precision=good_cites / cites if cites else None,
        abstain_rate=(
            sum(r.abstained for r in unanswerable) / len(unanswerable) if unanswerable else None
        ),
        false_abstain_rate=sum(r.abstained for r in answerable) / n,
        output_tokens=sum(r.output_tokens for r in rows) / (len(rows) or 1),
        input_tokens=input_tokens,
        latency_mean_s=sum(latencies) / (len(latencies) or 1),
        latency_p50_s=percentile(latencies, 50),
        cost_usd=cost,
        model=model,
        per_answer=rows,
    )


@dataclass(frozen=True)
class Judgement:
    """Counts for one answer: sentences checked and supported by a source they cite, and
    (sentence, cited source) pairs where the source supports the sentence."""

    sentences: int
    supported: int
    cites: int
    good_cites: int


def judge(
    checker: SupportChecker, text: str, citations: Sequence[Citation], lang: str
) -> Judgement:
    """Score ``text`` as written (its own markers, not repaired) against ``citations``."""
    from rag.pipelines.grounding import is_abstention, markers_of, split_claims, strip_markers

    raw = [s for s in split_claims(text) if not is_abstention(strip_markers(s))]
    if not raw:
        return Judgement(0, 0, 0, 0)
    scores = checker.support([strip_markers(s) for s in raw], citations, lang=lang)
    numbers = [c.number for c in citations]
    supported = cites = good = 0
    for sentence, row in zip(raw, scores, strict=True):
        by_number = dict(zip(numbers, row, strict=True))
        cited = [n for n in markers_of(sentence) if n in by_number]
        ok = [n for n in cited if by_number[n] >= checker.min_terms]
        supported += bool(ok)
        cites += len(cited)
        good += len(ok)
    return Judgement(len(raw), supported, cites, good)
