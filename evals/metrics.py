"""Retrieval and answer metrics, at document level.

Ranking metrics take a ranked list of *document* ids (``doc_ranking`` turns ranked chunks
into one: a document's rank is the rank of its best chunk) and the qrels of the query
(doc id -> grade, > 0 is relevant; or a set of relevant doc ids, each of grade 1):

* Recall@k: relevant documents in the top k / all relevant documents.
* MRR@k: 1 / rank of the first relevant document in the top k (0 when none).
* nDCG@k: sum of (2^grade - 1) / log2(rank + 1) over the top k, divided by the same sum
  for the ideal ordering of the qrels (so binary grades give the usual 1 / log2(rank + 1)).

Answer metrics: exact match and token F1 after SQuAD normalization (lowercase, no
punctuation, no English articles, single spaces); for answers with Hangul the F1 is over
characters (a multiset of the non-space characters), since Korean words carry particles
and endings that make whole-token overlap too strict.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from rag.types import ScoredChunk

_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Typographic dashes and the minus sign count as punctuation like "-": "−459.67" contains
# "459.67" and "1932–33" equals "1932-33" (NFKC keeps them as they are).
_PUNCT = set(string.punctuation) | set("·「」『』“”‘’…‐‒–—―−")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")

Relevance = Mapping[str, int] | AbstractSet[str]
"""A query's qrels: doc id -> grade (> 0 is relevant), or the set of relevant doc ids."""


def _grades(relevant: Relevance) -> Mapping[str, int]:
    if isinstance(relevant, AbstractSet):
        return dict.fromkeys(relevant, 1)
    return relevant


def doc_ranking(hits: Iterable[ScoredChunk]) -> list[str]:
    """Distinct document ids in rank order. A chunk's document is its ``location.record``
    (the JSONL record id), else its source path."""
    seen: dict[str, None] = {}
    for hit in hits:
        loc = hit.chunk.location
        doc = loc.record if loc.record is not None else hit.chunk.source
        seen.setdefault(doc, None)
    return list(seen)


def recall_at(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    rel = {d for d, g in _grades(relevant).items() if g > 0}
    if not rel:
        return 0.0
    return len(rel.intersection(ranked[:k])) / len(rel)


def mrr_at(ranked: Sequence[str], relevant: Relevance, k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top ``k``."""
    relevant = _grades(relevant)
    for rank, doc in enumerate(ranked[:k], 1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def _dcg(grades: Iterable[int]) -> float:
    return float(sum((2.0**g - 1) / math.log2(i + 2) for i, g in enumerate(grades)))


def ndcg_at(ranked: Sequence[str], relevant: Relevance, k: int = 10) -> float:
    """Normalized discounted cumulative gain over the top ``k`` (graded relevance; a set of
    ids is binary relevance, BEIR's usual definition)."""
    relevant = _grades(relevant)
    ideal = _dcg(sorted((g for g in relevant.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return _dcg(max(relevant.get(doc, 0), 0) for doc in ranked[:k]) / ideal


def normalize_answer(text: str, *, punctuation: str = "") -> str:
    """Lowercase, drop punctuation and English articles, collapse whitespace (SQuAD style);
    ``punctuation=" "`` turns each punctuation mark into a space instead of dropping it."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(punctuation if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def is_korean(text: str) -> bool:
    """True when ``text`` contains Hangul."""
    return _HANGUL.search(text) is not None


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalized texts are equal."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of precision and recall of the normalized whitespace tokens."""
    return _f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def char_f1(prediction: str, gold: str) -> float:
    """F1 over the multiset of non-space characters of the normalized texts (for Korean)."""
    return _f1(
        list(normalize_answer(prediction).replace(" ", "")),
        list(normalize_answer(gold).replace(" ", "")),
    )


def _f1(pred: Sequence[str], gold: Sequence[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_f1(prediction: str, gold: str) -> float:
    """Character F1 when the gold answer is Korean, token F1 otherwise."""
    return char_f1(prediction, gold) if is_korean(gold) else token_f1(prediction, gold)


def best_answer_scores(prediction: str, golds: Sequence[str]) -> tuple[float, float, float]:
    """(exact match, F1, contains) against the best-matching gold answer. ``contains`` is 1.0
    when the normalized prediction contains a gold answer: RAG answers are sentences with
    citations rather than extracted spans, so strict exact match alone undersells them."""
    if not golds:
        return 0.0, 0.0, 0.0
    em = max(exact_match(prediction, g) for g in golds)
    f1 = max(answer_f1(prediction, g) for g in golds)
    return em, f1, float(contains_gold(prediction, golds))


def contains_gold(text: str, golds: Sequence[str]) -> bool:
    """``text``, normalized, contains one of the ``golds`` (``best_answer_scores``'s
    ``contains``; also asked of a question's sources, without the exact match and F1)."""
    norm = normalize_answer(text)
    spaced = normalize_answer(text, punctuation=" ")
    return any(bool(normalize_answer(g)) and _contains(norm, spaced, g) for g in golds)


def _contains(norm_pred: str, spaced_pred: str, gold: str) -> bool:
    """``gold`` in the prediction, normalized; punctuation also read as a space, so a cell of
    a table row ("OpenAI,openai:MODEL,OPENAI_API_KEY") is not glued to its neighbours."""
    norm_gold = normalize_answer(gold)
    if is_korean(gold) or is_korean(norm_pred):  # particles attach to words: "QLoRA도"
        return norm_gold.replace(" ", "") in norm_pred.replace(" ", "")
    if f" {norm_gold} " in f" {norm_pred} ":
        return True
    spaced_gold = normalize_answer(gold, punctuation=" ")
    return bool(spaced_gold) and f" {spaced_gold} " in f" {spaced_pred} "


def percentile(values: Sequence[float], q: float, *, empty: float = 0.0) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default);
    ``empty`` for no values."""
    if not values:
        return empty
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
