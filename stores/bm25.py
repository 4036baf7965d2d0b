"""BM25 scoring shared by every store's keyword search, and the keyword rows a write makes.

Scoring is Okapi BM25 with k1 = 1.2, b = 0.75 and Lucene's always-positive idf::

    score(d, q) = sum over distinct query terms t in d of
                  idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

The in-process and SQLite sidecars (``rag.stores.bm25_sidecar``) compute it in Python or SQL,
pgvector in SQL (``rag.stores.pgvector_keyword``), all with these constants, so a query ranks
the same way on every store. SQLite's FTS5 ``bm25()`` is not used: its idf
(``ln((N - df + 0.5) / (df + 0.5))``, clamped to 1e-6) is zero for a term in half the
documents, which ruins small collections, and it could not be reproduced on pgvector.
Query terms are deduplicated (a repeated query word does not count twice).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from rag.errors import StoreError
from rag.stores.base import DuplicatePolicy
from rag.types import Chunk

__all__ = ["BM25_B", "BM25_K1", "bm25_idf", "bm25_term", "term_counts", "terms_by_id"]

BM25_K1 = 1.2
"""Term-frequency saturation: the 3rd occurrence of a word adds much less than the 1st."""
BM25_B = 0.75
"""Length normalization: a match in a short chunk counts more than in a long one."""


def bm25_idf(n_docs: int, df: int) -> float:
    """Lucene's BM25 idf: rare terms weigh more, and it never goes negative."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def bm25_term(idf: float, tf: int, length: int, avgdl: float) -> float:
    """One term's contribution to a document's BM25 score."""
    norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / avgdl) if avgdl > 0 else BM25_K1
    return idf * tf * (BM25_K1 + 1.0) / (tf + norm)


def terms_by_id(
    chunks: Sequence[Chunk],
    terms: Sequence[Sequence[str]] | None,
    policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE,
) -> dict[str, Sequence[str]] | None:
    """``terms[i]`` (chunk i's keyword terms) by chunk id; for an id repeated in one write,
    the occurrence ``policy`` keeps (OVERWRITE: the last, else the first). None stays None."""
    if terms is None:
        return None
    if len(terms) != len(chunks):
        raise StoreError(
            f"write got {len(chunks)} chunks but {len(terms)} term lists; pass one list of "
            "keyword terms per chunk (or terms=None)"
        )
    out: dict[str, Sequence[str]] = {}
    for chunk, t in zip(chunks, terms, strict=True):
        if policy is DuplicatePolicy.OVERWRITE or chunk.id not in out:
            out[chunk.id] = t
    return out


def term_counts(
    chunks: Sequence[Chunk], terms: Sequence[Sequence[str]]
) -> dict[str, tuple[Chunk, Counter[str]]]:
    """Chunks by id (the last one wins, as with repeated upserts) with their term frequencies."""
    if len(chunks) != len(terms):
        raise StoreError(f"got {len(chunks)} chunks but {len(terms)} term lists")
    return {c.id: (c, Counter(t)) for c, t in zip(chunks, terms, strict=True)}
