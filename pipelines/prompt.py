"""Concise prompts: keep the sentences of a source that bear on the question.

A retrieved chunk is often mostly context around the one or two sentences that answer.
``SentenceSelector.select`` scores each sentence by the question terms it contains (rarer
terms weigh more), keeps those scoring at least ``keep_fraction`` of the best sentence plus
one neighbour on each side, and marks what it left out with ``…``. A heading line at the
top of a chunk is always kept, and a chunk with no sentence sharing a term with the
question (a paraphrase match) is kept whole, so selection never drops the passage that
answers. Terms come from the keyword tokenizer (Korean particles stripped, English stemmed)
when one is given, else from lower-cased words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.pipelines.statements import sentence_ends

_SENTENCE = re.compile(
    r"(?:[^\n.!?。！？]|[.!?](?![.!?\s\"'”’)\]]|$))*(?:[.!?。！？]+[\"'”’)\]]*|\n|$)"
)
"""A sentence or line: a Latin full stop, ! or ? ends it only before a space, a quote or
bracket, or the end ("e.g.", "3.5" and "chunk.size" go on)."""
_WORD = re.compile(r"\d+(?:\.\d+)+|\w+", re.UNICODE)

Terms = Callable[[Sequence[str]], list[list[str]]]


def simple_terms(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased words, a dotted version number ("2.0.0") as one: the fallback when no
    keyword tokenizer is configured."""
    return [[w.lower() for w in _WORD.findall(t) if len(w) > 1] for t in texts]


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of ``text``, each with its trailing punctuation, none empty; no
    sentence ends at an abbreviation or an initial (``statements.sentence_ends``)."""
    out: list[str] = []
    for s in (m.group(0) for m in _SENTENCE.finditer(text)):
        if not s.strip():
            continue
        if out and not out[-1].endswith("\n") and not sentence_ends(out[-1], s):
            out[-1] += s
        else:
            out.append(s)
    return out


@dataclass(frozen=True)
class Selection:
    """The text to send, and how much of the source it keeps."""

    text: str
    kept: int
    total: int


class SentenceSelector:
    """Query-relevant sentence selection (see the module docstring)."""

    def __init__(self, terms: Terms | None = None, *, keep_fraction: float = 0.34) -> None:
        self.terms = terms or simple_terms
        self.keep_fraction = keep_fraction

    def select(self, question: str, texts: Sequence[str]) -> list[Selection]:
        """One Selection per text, all scored against the same question."""
        sentence_lists = [split_sentences(t) for t in texts]
        flat = [s for sents in sentence_lists for s in sents]
        term_lists = self.terms([question, *flat])
        q_terms = set(term_lists[0])
        sentence_terms = term_lists[1:]
        # rarer terms (in fewer candidate sentences) weigh more
        df: dict[str, int] = {}
        for terms in sentence_terms:
            for t in set(terms) & q_terms:
                df[t] = df.get(t, 0) + 1
        n = max(1, len(sentence_terms))
        weight = {t: math.log(1 + n / c) for t, c in df.items()}
        out: list[Selection] = []
        i = 0
        for text, sents in zip(texts, sentence_lists, strict=True):
            scores = [
                sum(weight.get(t, 0.0) for t in set(sentence_terms[i + j]))
                for j in range(len(sents))
            ]
            i += len(sents)
            out.append(self._keep(text, sents, scores))
        return out

    def _keep(self, text: str, sents: list[str], scores: list[float]) -> Selection:
        best = max(scores, default=0.0)
        if best <= 0 or len(sents) <= 2:
            return Selection(text, len(sents), len(sents))
        keep = {j for j, s in enumerate(scores) if s >= best * self.keep_fraction}
        keep |= {j + d for j in keep for d in (-1, 1) if 0 <= j + d < len(sents)}
        if sents[0].endswith("\n"):  # a heading or title line
            keep.add(0)
        if len(keep) == len(sents):
            return Selection(text, len(sents), len(sents))
        parts: list[str] = []
        previous = -1
        for j in sorted(keep):
            if j != previous + 1:
                parts.append("… ")
            parts.append(sents[j].strip() + ("\n" if sents[j].endswith("\n") else " "))
            previous = j
        if previous != len(sents) - 1:
            parts.append("…")
        return Selection("".join(parts).strip(), len(keep), len(sents))
