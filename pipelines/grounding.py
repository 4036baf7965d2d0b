"""Sentence-level support: is each sentence of an answer backed by the sources it cites?

``SupportChecker.check`` splits an answer into sentences and scores each against every
numbered source:

* **term support** — the share of the sentence's content terms (the keyword tokenizer's:
  Korean morphemes, English stems) found in the source. Every number in the sentence must
  also appear in the source, else the support is 0: invented numbers, ports and versions are
  the most harmful error of small models.
* **meaning support** (English, or whatever the embedder declares) — the cosine between the
  sentence and the source's closest sentence, so that a faithful paraphrase by a capable
  model is not flagged. Languages the embedder does not cover use term support only.

A sentence is *supported* when some source reaches ``min_terms`` term support, or
``min_cosine`` with at least ``min_terms_with_cosine`` term support. Its citations are then
repaired: markers of sources that do not support it are replaced by the best supporting
source's ``[n]``, and a missing marker is added. Unsupported sentences lose their markers
(a citation must not vouch for what its source does not say) and are flagged
``supported=False``. Sentences that only say the sources do not answer are abstentions,
neither supported nor not.

The result is a value (``CheckedAnswer``); the checker keeps nothing per call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rag.embeddings import covers, languages_of
from rag.pipelines.prompt import simple_terms, split_sentences
from rag.pipelines.statements import (
    LEADING_MARKERS,
    MARKER_BODY,
    asks,
    remark,
    reply,
    sentence_ends,
)
from rag.types import AnswerSentence, Citation

Terms = Callable[[Sequence[str]], list[list[str]]]

_CODE_OR_MARKER = re.compile(r"(`[^`\n]*`)|\s*" + MARKER_BODY)
"""An inline code span (group 1), whose ``[1]`` is text (``"cites its sources as `[1]`"``),
or a marker (group 2)."""
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ABSTAIN = re.compile(
    r"(?:do(?:es)? not (?:say|contain|mention|answer|provide|include)|don'?t know|"
    r"not (?:mentioned|stated|provided|found) in|no information|cannot (?:be )?(?:answer|found)"
    r"|can'?t answer|자료(?:에는|에)?\s*(?:답|내용|정보)?[이가]?\s*없|답[이은]\s*없|알 수 없"
    r"|(?:나와|언급되어|적혀) 있지 않|모르)",
    re.IGNORECASE,
)

GENERIC_TERMS = frozenset(
    [
        "use",
        "need",
        "make",
        "get",
        "want",
        "also",
        "just",
        "like",
        "way",
        "abl",
        "simpli",
        "via",
        "follow",
        "step",
        "thing",
        "help",
        "allow",
        "let",
        "provid",
        "enabl",
        "give",
        "take",
    ]
)
"""Stems that carry no claim of their own ("you need to use X"): not counted in support."""

ABSTAIN_TEXT = {
    "en": "The sources do not say.",
    "ko": "자료에 답이 없습니다.",
}


def abstain_text(lang: str) -> str:
    """The honest "the sources do not say", in the question's language (English otherwise)."""
    return ABSTAIN_TEXT.get(lang, ABSTAIN_TEXT["en"])


def is_abstention(sentence: str) -> bool:
    """True when ``sentence`` only says the sources do not answer (any supported language)."""
    return _ABSTAIN.search(sentence) is not None


_CLAIM_END = re.compile(r"(?<=[.!?。！？])([\"'”’)\]]*)[ \t]+|\n+")


def split_claims(text: str) -> list[str]:
    """The sentences and lines of an answer, each with its ``[n]`` markers. A marker written
    after the full stop (``... server. [2] Next``) stays with the sentence before it; a
    decimal point or a path (``3.5``, ``./docs``) does not end a sentence."""
    return [claim for claim, _ in claim_parts(text)]


def claim_parts(text: str) -> list[tuple[str, str]]:
    """``split_claims`` with the separator that followed each claim (spaces, newlines), so
    that an answer can be put back together with its layout."""
    parts: list[tuple[str, str]] = []
    pos = 0
    pieces: list[tuple[str, str]] = []
    for m in _CLAIM_END.finditer(text):
        end = m.start() if m.group(1) is None else m.end(1)  # closing quotes stay
        if "\n" not in m.group(0) and not sentence_ends(text[pos:end], text[m.end() :]):
            continue  # "Linus Yale Sr. in 1848": the claim goes on
        pieces.append((text[pos:end], text[end : m.end()]))
        pos = m.end()
    pieces.append((text[pos:], ""))
    for part, sep in pieces:
        lead = LEADING_MARKERS.match(part)
        if lead and parts:
            claim, _ = parts[-1]
            parts[-1] = (claim + " " + lead.group(0).strip(), parts[-1][1])
            part = part[lead.end() :]
        if strip_markers(part).strip(" -*#`>"):
            parts.append((part.strip(), sep))
        elif parts:
            parts[-1] = (parts[-1][0], parts[-1][1] + sep)
    merged: list[tuple[str, str]] = []
    for claim, sep in parts:
        same_line = bool(merged) and "\n" not in merged[-1][1]
        if same_line and reply(strip_markers(merged[-1][0])):
            claim = f"{merged.pop()[0]} {claim}"  # "No. It needs ...": one claim
        elif same_line and remark(strip_markers(claim)) and not asks(strip_markers(merged[-1][0])):
            claim = f"{merged.pop()[0]} {claim}"  # "... workers. Default: 50 [1].": one claim
        merged.append((claim, sep))
    return merged


def markers_of(sentence: str) -> list[int]:
    """The source numbers in a sentence's ``[n]`` / ``[n, m]`` markers, in order."""
    found: list[int] = []
    for m in _CODE_OR_MARKER.finditer(sentence):
        if m.group(2) is None:
            continue  # inside inline code
        for n in re.split(r"\s*[,;]\s*", m.group(2)):
            if int(n) not in found:
                found.append(int(n))
    return found


def strip_markers(sentence: str) -> str:
    """``sentence`` without its ``[n]`` markers (a ``[1]`` in inline code is text)."""
    return _CODE_OR_MARKER.sub(lambda m: m.group(1) or "", sentence).strip()


def numbers_in(text: str) -> set[str]:
    """The numbers written in ``text`` (``5432``, ``3.5``, ``1,000``), as written."""
    return {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}


@dataclass(frozen=True)
class CheckedAnswer:
    """An answer after the support check: the text with repaired markers, each sentence with
    its verdict, and the share of (non-abstaining) sentences that are supported."""

    text: str
    sentences: tuple[AnswerSentence, ...]
    grounded: float | None
    """Supported sentences / checked sentences; None when every sentence abstains."""
    abstained: bool


class SupportChecker:
    """Scores answer sentences against numbered sources (see the module docstring)."""

    def __init__(
        self,
        terms: Terms | None = None,
        embedder: Any = None,
        *,
        min_terms: float = 0.7,
        min_cosine: float = 0.8,
        min_terms_with_cosine: float = 0.3,
    ) -> None:
        self.terms = terms or simple_terms
        self.embedder = embedder
        self.languages = languages_of(embedder) if embedder is not None else None
        self.min_terms = min_terms
        self.min_cosine = min_cosine
        self.min_terms_with_cosine = min_terms_with_cosine

    def check(self, text: str, citations: Sequence[Citation], *, lang: str = "en") -> CheckedAnswer:
        """Split ``text`` into sentences, score each against ``citations``, repair markers."""
        parts = claim_parts(text)
        raw = [claim for claim, _ in parts]
        claims = [strip_markers(s) for s in raw]
        support = self.support(claims, citations, lang=lang)
        out: list[AnswerSentence] = []
        for sentence, claim, scores in zip(raw, claims, support, strict=True):
            out.append(self._verdict(sentence, claim, scores, citations))
        checked = [s for s in out if s.supported is not None]
        grounded = sum(s.supported is True for s in checked) / len(checked) if checked else None
        abstained = bool(out) and not checked
        rebuilt = "".join(s.text + sep for s, (_, sep) in zip(out, parts, strict=True))
        return CheckedAnswer(
            text=rebuilt.strip() or text.strip(),
            sentences=tuple(out),
            grounded=grounded,
            abstained=abstained,
        )

    def support(
        self, claims: Sequence[str], citations: Sequence[Citation], *, lang: str = "en"
    ) -> list[list[float]]:
        """For each claim, its support (0..1) by each citation, in citation order."""
        if not claims or not citations:
            return [[0.0] * len(citations) for _ in claims]
        term_lists = self.terms([*claims, *(c.text for c in citations)])
        claim_terms = [set(t) - GENERIC_TERMS for t in term_lists[: len(claims)]]
        source_terms = [set(t) for t in term_lists[len(claims) :]]
        source_numbers = [numbers_in(c.text) for c in citations]
        cosines = self._cosines(claims, citations, lang)
        out: list[list[float]] = []
        for i, claim in enumerate(claims):
            numbers = numbers_in(claim)
            row: list[float] = []
            for j in range(len(citations)):
                if not numbers <= source_numbers[j]:
                    row.append(0.0)
                    continue
                terms = claim_terms[i]
                share = len(terms & source_terms[j]) / len(terms) if terms else 0.0
                score = share
                if (
                    share < self.min_terms
                    and cosines is not None
                    and cosines[i][j] >= self.min_cosine
                    and share >= self.min_terms_with_cosine
                ):
                    score = self.min_terms
                row.append(score)
            out.append(row)
        return out

    def _cosines(
        self, claims: Sequence[str], citations: Sequence[Citation], lang: str
    ) -> list[list[float]] | None:
        """Claim x source: cosine to the source's closest sentence; None when the embedder is
        missing or does not cover ``lang``."""
        if self.embedder is None or not covers(self.languages, lang):
            return None
        sources = [split_sentences(c.text) for c in citations]
        flat = [s for sents in sources for s in sents]
        if not flat:
            return None
        vectors = self.embedder.embed([*claims, *flat], input_type="document")
        sims = vectors[: len(claims)] @ vectors[len(claims) :].T  # unit vectors: cosines
        out: list[list[float]] = []
        for i in range(len(claims)):
            row: list[float] = []
            start = 0
            for sents in sources:
                part = sims[i, start : start + len(sents)]
                start += len(sents)
                row.append(float(part.max()) if len(sents) else 0.0)
            out.append(row)
        return out

    def _verdict(
        self,
        sentence: str,
        claim: str,
        scores: Sequence[float],
        citations: Sequence[Citation],
    ) -> AnswerSentence:
        numbers = [c.number for c in citations]
        if is_abstention(claim):
            return AnswerSentence(text=claim, citations=[], supported=None, support=0.0)
        best = max(scores, default=0.0)
        if best < self.min_terms:
            return AnswerSentence(text=claim, citations=[], supported=False, support=best)
        supporting = [n for n, s in zip(numbers, scores, strict=True) if s >= self.min_terms]
        kept = [n for n in markers_of(sentence) if n in supporting]
        if not kept:
            kept = [numbers[max(range(len(scores)), key=lambda j: scores[j])]]
        return AnswerSentence(
            text=attach_markers(claim, kept), citations=kept, supported=True, support=best
        )


def attach_markers(claim: str, numbers: Sequence[int]) -> str:
    """``claim`` with ``[n]`` markers before its final punctuation (``...pgvector [1].``), or
    after an ellipsis or a closing quote or bracket (``rag ask "..." [1]``)."""
    marks = "".join(f" [{n}]" for n in numbers)
    stripped = claim.rstrip()
    end = len(stripped)
    while end > 0 and stripped[end - 1] in ".!?。":
        end -= 1
    if stripped[end:].startswith(".."):
        end = len(stripped)  # an ellipsis is not the sentence's full stop
    return stripped[:end] + marks + stripped[end:]
