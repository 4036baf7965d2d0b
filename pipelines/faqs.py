"""FAQ entries and the question's kind in extractive answers: an FAQ's question line is
answered by the line after it (``answers_for_questions``, ``asked_alike``), a one-word reply
("No.") is dropped when the user asks what rather than whether (``unreplied``), and an FAQ's
yes/no question lends no score to a question asking what (``yes_no_entry``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.keywords import has_hangul
from rag.pipelines.extractive_rules import QUESTION_WORDS, Candidate
from rag.pipelines.statements import FAQ_MARK, asks, reply

_YES_NO = re.compile(
    r"^\s*(?:do|does|did|is|are|was|were|can|could|will|would|should|shall|may|must|has|have|"
    r"had|am)\b",
    re.IGNORECASE,
)
"""An English question a bare "Yes." or "No." answers (it opens with an auxiliary verb)."""
_ASKS_WHAT = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)


def answers_for_questions(
    order: list[int],
    scores: list[float],
    candidates: Sequence[Candidate],
    by_source: dict[int, list[int]],
) -> tuple[list[int], list[float]]:
    """``order`` with each question among the sources replaced by the sentence after it, its
    answer (an FAQ asks what the user asks, in the user's words, but says nothing itself), at
    the question's score; a question with no statement after it is left out."""
    ranked: list[int] = []
    best = list(scores)
    for k in order:
        if asks(candidates[k].text):
            siblings = by_source[candidates[k].source]
            at = siblings.index(k)
            if at + 1 >= len(siblings) or asks(candidates[siblings[at + 1]].text):
                continue
            best[siblings[at + 1]] = max(best[siblings[at + 1]], scores[k])
            k = siblings[at + 1]
        if k not in ranked:
            ranked.append(k)
    return ranked, best


def asked_alike(
    candidates: Sequence[Candidate],
    cosines: Sequence[float] | None,
    by_source: dict[int, list[int]],
    floor: float,
) -> int | None:
    """The statement after the source question closest in meaning to the user's, when that
    cosine reaches ``floor``: an FAQ entry that asks what the user asks ("Which model
    answers?" for "Which model answers by default?") is answered by its own reply, however
    well another page's sentence matches the words. None without such a question (or without
    a meaning signal)."""
    if cosines is None:
        return None
    alike = [k for k, c in enumerate(candidates) if cosines[k] >= floor and asks(c.text)]
    for k in sorted(alike, key=lambda j: -cosines[j]):
        siblings = by_source[candidates[k].source]
        at = siblings.index(k)
        if at + 1 < len(siblings) and not asks(candidates[siblings[at + 1]].text):
            return siblings[at + 1]
    return None


def asks_whether(question: str) -> bool:
    """True for an English yes/no question ("Does it send telemetry?"), not one offering a
    choice ("..., or is there some randomness?"): restating it answers it ("There is no
    telemetry")."""
    return (
        not has_hangul(question)
        and _YES_NO.match(question) is not None
        and re.search(r"\bor\b", question, re.IGNORECASE) is None
    )


def asks_wh(question: str) -> bool:
    """True for an English question asking what, which, who, how ... rather than whether."""
    return _ASKS_WHAT.search(question) is not None and not _YES_NO.match(question)


_ASKS_A_WAY = re.compile(r"\bhow\s+(?:do|does|can|could|should|would|to)\b", re.IGNORECASE)


def asks_what_not_way(question: str) -> bool:
    """``asks_wh``, but not for a way to do something ("how do I add it after the fact?"): an
    FAQ's "Yes. Run clockrow add ..." gives one."""
    return asks_wh(question) and _ASKS_A_WAY.search(question) is None


def yes_no_entry(text: str) -> bool:
    """An FAQ's yes/no question ("Q: Can I go back to 1.7?"): to a question asking what, its
    reply answers something else ("A: No. Downgrades are not supported" to "what should I
    back up before upgrading from 1.7"). The reply keeps its own words' score ("No. It needs
    a licence server on first start" to "What does it need on first start?")."""
    return asks(text) and _YES_NO.match(FAQ_MARK.sub("", text, count=1)) is not None


def unreplied(text: str, question: str) -> str:
    """``text`` without the one-word reply ("No.", "네.") that opens it when ``question`` asks
    what, which, who ... rather than whether: an FAQ's "No. The model ships with ..." answers
    its own yes/no question; quoted to "Which model ...?" the "No." says the wrong thing."""
    first, _, rest = text.partition(" ")
    if not rest or not reply(first):
        return text
    if has_hangul(question):
        wh = any(word in question for word in QUESTION_WORDS if has_hangul(word))
    else:
        wh = asks_wh(question)
    return rest if wh else text
