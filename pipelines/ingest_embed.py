"""Ingest stage 3, embed: a batch of chunks -> their vectors, each distinct text embedded once.

``distinct_texts`` picks the texts to embed (chunks with the same content hash share one);
``embed_texts`` embeds them, in slices when a progress callback wants to see it move;
``Embedded.rows`` gives each chunk its row (a stored one for chunks whose vectors are
reused). Pure apart from the embedder itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.embeddings import InputType
from rag.types import Chunk, Vectors

EMBED_SLICE = 1024
"""Texts per embedder call when progress is reported during one batch."""

SliceProgress = Callable[[int, int], None]
"""Called as ``on_slice(done, total)`` after each slice of a batch is embedded."""


class DocumentEmbedder(Protocol):
    """The part of an Embedder that ingest uses."""

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors: ...


@dataclass(frozen=True)
class Embedded:
    """The vectors of a batch's distinct texts, found per chunk by its content hash: embedded
    now, or stored already (``reused``: a moved or re-rooted file's, read from the store)."""

    index: Mapping[str, int]
    vectors: Vectors | None
    """Row ``index[c.content_hash]`` is chunk ``c``'s vector; None when nothing was embedded."""
    reused: Mapping[str, Vectors] = field(default_factory=dict)
    """Stored vectors by content hash, for the chunks that were not embedded."""

    def rows(self, chunks: Sequence[Chunk]) -> Vectors:
        """The embedding rows of ``chunks`` (all from this batch), in order."""
        return np.stack([self._row(c.content_hash) for c in chunks])

    def _row(self, content_hash: str) -> Vectors:
        row = self.index.get(content_hash)
        if row is None:
            return self.reused[content_hash]
        assert self.vectors is not None, "rows asked of an empty batch"
        vector: Vectors = self.vectors[row]
        return vector


def distinct_texts(chunks: Sequence[Chunk]) -> tuple[list[str], dict[str, int]]:
    """The texts to embed (identical texts once) and each content hash's row among them."""
    texts: list[str] = []
    index: dict[str, int] = {}
    for c in chunks:
        if c.content_hash not in index:
            index[c.content_hash] = len(texts)
            texts.append(c.text)
    return texts, index


def embed_texts(
    embedder: DocumentEmbedder, texts: list[str], on_slice: SliceProgress | None = None
) -> Vectors:
    """Embed documents; in slices of ``EMBED_SLICE`` when ``on_slice`` is given, so the
    progress bar moves during a large batch or window."""
    if on_slice is None or len(texts) <= EMBED_SLICE:
        return embedder.embed(texts, input_type="document")
    parts = []
    for start in range(0, len(texts), EMBED_SLICE):
        parts.append(embedder.embed(texts[start : start + EMBED_SLICE], input_type="document"))
        on_slice(min(start + EMBED_SLICE, len(texts)), len(texts))
    return np.concatenate(parts)


def embed_chunks(
    embedder: DocumentEmbedder, chunks: Sequence[Chunk], on_slice: SliceProgress | None = None
) -> Embedded:
    """Stage 3 in one call: the vectors of ``chunks`` (each distinct text embedded once)."""
    texts, index = distinct_texts(chunks)
    return Embedded(index, embed_texts(embedder, texts, on_slice) if texts else None)
