"""What ``ExtractiveAnswerer.compose`` returns (``Composed``): the quoted sentences, each with
its ``[n]`` (``quoted_answer``), or the abstention in the question's language
(``abstained``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.pipelines.grounding import abstain_text, attach_markers
from rag.types import AnswerSentence


@dataclass(frozen=True)
class Composed:
    """An extractive answer: its text, its sentences (all supported by construction, or one
    abstention), and whether it abstained."""

    text: str
    sentences: tuple[AnswerSentence, ...]
    abstained: bool
    coverage: float = 0.0
    """The best source's weighted share of the question's terms (blended with its share of
    the question's character bigrams for ``bigram_languages`` without a meaning signal)."""
    closeness: float | None = None
    """The best sentence's cosine to the question (None: the embedder does not cover the
    question's language)."""
    reason: str = ""
    """Why it abstained, for the reader who wants to check ("" when it answered)."""


def quoted_answer(
    quoted: Sequence[tuple[str, int]], coverage: float, closeness: float | None
) -> Composed:
    """The answer quoting each ``(text, source number)`` in order, each marked ``[n]``."""
    sentences = tuple(
        AnswerSentence(
            text=attach_markers(text, [number]), citations=[number], supported=True, support=1.0
        )
        for text, number in quoted
    )
    return Composed(
        text="\n".join(s.text for s in sentences),
        sentences=sentences,
        abstained=False,
        coverage=coverage,
        closeness=closeness,
    )


def abstained(
    lang: str, coverage: float = 0.0, closeness: float | None = None, reason: str = ""
) -> Composed:
    """The answer saying the sources do not say, in ``lang``, and ``reason`` why."""
    text = abstain_text(lang)
    return Composed(
        text=text,
        sentences=(AnswerSentence(text=text, supported=None),),
        abstained=True,
        coverage=coverage,
        closeness=closeness,
        reason=reason,
    )
