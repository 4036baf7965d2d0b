"""``RagVectorStore``: a LangChain ``VectorStore`` over a rag store (memory, Chroma, pgvector).

Imported through ``rag.integrations.langchain`` (which checks the ``langchain`` extra first).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from rag.api import RAG
from rag.config import Settings, load_settings
from rag.errors import CollectionNotFoundError
from rag.integrations._langchain_documents import ID_KEY, _chunk, to_document
from rag.stores.base import Filters, keyword_search
from rag.types import MetadataValue, ScoredChunk

__all__ = ["RagVectorStore"]


class RagVectorStore(VectorStore):
    """A LangChain ``VectorStore`` on a rag store: an empty in-memory one by default, Chroma
    or pgvector when ``settings`` say so (``store``, ``pg_dsn``, ...); ``collection``
    overrides the settings' collection. Scores are cosine similarities."""

    def __init__(
        self,
        embedding: Embeddings,
        *,
        collection: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        if settings is None:
            settings = load_settings(store="memory", collection=collection)
        elif collection is not None:
            settings = settings.model_copy(update={"collection": collection})
        self.embedding = embedding
        self.rag = RAG(settings)
        """Holds the store (built on first use) and the keyword tokenizer."""
        self._dimension: int | None = None

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store each text whole under its id (a new uuid where none is given); an
        id already stored is replaced."""
        texts = list(texts)
        metas = metadatas if metadatas is not None else [{} for _ in texts]
        given: Sequence[str | None] = ids if ids is not None else [None] * len(texts)
        if not (len(metas) == len(given) == len(texts)):
            raise ValueError("texts, metadatas and ids must have the same length")
        out = [i if i else str(uuid.uuid4()) for i in given]
        if not texts:
            return out
        chunks = [_chunk(t, m, i) for t, m, i in zip(texts, metas, out, strict=True)]
        vectors = np.asarray(self.embedding.embed_documents(texts), dtype=np.float32)
        self._dimension = int(vectors.shape[1])
        store = self.rag.store
        keywords = keyword_search(store)
        with store.transaction():
            if keywords is None:
                store.write(chunks, vectors)
            else:
                tokenizer = self.rag.keyword_tokenizer
                terms = tokenizer.tokenize_batch([tokenizer.chunk_text(c) for c in chunks])
                store.write(chunks, vectors, terms=terms)
        return out

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (ids not stored are ignored)."""
        if ids is None:
            raise ValueError("RagVectorStore.delete needs the ids to delete")
        if ids:
            self.rag.store.delete_ids(list(ids))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents with these ids, in the order given (missing ones left out)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        probe = np.ones(self._dim(), dtype=np.float32)  # any vector: the filter selects
        members: list[MetadataValue] = list(wanted)
        hits = self._query(probe, len(wanted), {ID_KEY: {"$in": members}})
        by_id = {h.chunk.id: h.chunk for h in hits}
        return [to_document(by_id[i]) for i in wanted if i in by_id]

    def _dim(self) -> int:
        if self._dimension is None:  # one query embedding per store object, then remembered
            self._dimension = len(self.embedding.embed_query("dimension"))
        return self._dimension

    def _query(self, vector: Any, k: int, filters: Filters | None) -> list[ScoredChunk]:
        try:
            return self.rag.store.query(np.asarray(vector, dtype=np.float32), k, filters)
        except CollectionNotFoundError:  # nothing written yet: an empty store
            return []

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Filters | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` closest documents with their cosine similarity; ``filter``: rag's filter
        grammar over the metadata (``rag.stores.base``)."""
        vector = self.embedding.embed_query(query)
        self._dimension = len(vector)
        return [(to_document(h.chunk), h.score) for h in self._query(vector, k, filter)]

    def similarity_search(
        self, query: str, k: int = 4, filter: Filters | None = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, filter)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Filters | None = None, **kwargs: Any
    ) -> list[Document]:
        return [to_document(h.chunk) for h in self._query(embedding, k, filter)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Cosine similarity (-1..1) onto LangChain's relevance (0..1)."""
        return lambda score: (score + 1.0) / 2.0

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        collection: str | None = None,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> RagVectorStore:
        store = cls(embedding, collection=collection, settings=settings)
        store.add_texts(texts, list(metadatas) if metadatas is not None else None, ids=ids)
        return store

    def close(self) -> None:
        """Close the store (a pgvector pool, Chroma's client)."""
        self.rag.close()
