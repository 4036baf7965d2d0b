"""LlamaIndex adapters: rag's stores, retrieval and embedder inside LlamaIndex code, and a
LlamaIndex LLM as rag's LLM.

    from rag import RAG
    from rag.integrations.llamaindex import (
        RagEmbedding, RagRetriever, RagVectorStore, from_llamaindex)

    rag = RAG(collection="handbook")
    index = VectorStoreIndex.from_vector_store(
        RagVectorStore(rag=rag), embed_model=RagEmbedding(rag=rag))
    engine = RetrieverQueryEngine.from_args(RagRetriever(rag=rag, k=4), llm=llm)
    RAG(llm=from_llamaindex(llm)).ask("...")

- ``RagVectorStore`` (``BasePydanticVectorStore``, ``stores_text=True``) keeps LlamaIndex
  nodes in any rag store (memory, Chroma, pgvector): a node is a rag chunk whose source is
  the node's ref doc id (so ``delete(ref_doc_id)`` removes exactly that document's nodes) and
  whose metadata holds the node's own metadata (filterable) plus the node itself as JSON
  under ``_node_content``/``_node_type`` (LlamaIndex's convention), so a query returns each
  node as it was added, its metadata exactly as the user wrote it. Metadata filters are mapped
  onto rag's grammar by ``rag.integrations._llamaindex_filters`` (its docstring: operators,
  AND/OR, what is refused).
- ``RagRetriever`` (``BaseRetriever``) runs rag's own retrieval (``RAG.retrieve``: hybrid,
  Korean-aware) and returns ``NodeWithScore``s whose metadata carries rag's citation under
  ``CITATION_KEY`` (``"rag"``; excluded from what the LLM and the embedder see).
- ``RagEmbedding`` (``BaseEmbedding``) is rag's embedder, so LlamaIndex embeds queries and
  nodes with the model the collection was ingested with.
- ``from_llamaindex(llm)`` makes a LlamaIndex LLM rag's LLM (``complete`` and ``stream``), its
  calls recorded in rag's call log with the token counts the LLM reports, or estimated (and
  marked ``tokens_estimated``) when it reports none.

Needs the ``llamaindex`` extra (``pip install 'rag[llamaindex]'``); importing ``rag`` never
imports llama_index. Async methods run the sync call in a worker thread (``asyncio.to_thread``),
never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from rag._lazy import require

require("llama_index.core", "llamaindex", "rag.integrations.llamaindex (the LlamaIndex adapters)")

import numpy as np  # noqa: E402
from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from llama_index.core.bridge.pydantic import PrivateAttr  # noqa: E402
from llama_index.core.callbacks.base import CallbackManager  # noqa: E402
from llama_index.core.retrievers import BaseRetriever  # noqa: E402
from llama_index.core.schema import (  # noqa: E402
    BaseNode,
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (  # noqa: E402
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import (  # noqa: E402
    metadata_dict_to_node,
    node_to_metadata_dict,
)

from rag.api import RAG  # noqa: E402
from rag.chunking import content_hash  # noqa: E402
from rag.errors import ConfigError  # noqa: E402
from rag.integrations._llamaindex_filters import Branch, to_branches  # noqa: E402
from rag.integrations._llamaindex_llm import LlamaIndexLLM, from_llamaindex  # noqa: E402
from rag.pipelines.ingest_chunk import keyword_terms  # noqa: E402
from rag.pipelines.ingest_documents import RESERVED_PREFIX  # noqa: E402
from rag.sanitize import clean_metadata  # noqa: E402
from rag.stores.base import DuplicatePolicy, Filters, keyword_search  # noqa: E402
from rag.types import Chunk, LegRanks, ScoredChunk  # noqa: E402

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.stores.base import Store

__all__ = [
    "CITATION_KEY",
    "LlamaIndexLLM",
    "RagEmbedding",
    "RagRetriever",
    "RagVectorStore",
    "from_llamaindex",
]

CITATION_KEY = "rag"
"""The node metadata key under which ``RagRetriever`` puts rag's citation: a dict with
``source``, ``page``, ``start_line``, ``end_line``, ``heading`` (``"A > B"``), ``record``,
``location`` (``"lines 10-24"``), ``chunk_id``, ``rank``, ``score``, ``dense_rank`` and
``keyword_rank`` (None where rag does not know it)."""

NODE_CONTENT_KEY = "_node_content"
NODE_TYPE_KEY = "_node_type"
_ADAPTER_KEYS = frozenset({NODE_CONTENT_KEY, NODE_TYPE_KEY})
"""Chunk metadata keys that hold the node itself; never shown as the node's metadata."""


def _resolve_rag(
    rag: RAG | None, settings: Settings | None, collection: str | None
) -> tuple[RAG, bool]:
    """``rag`` as given, or a new RAG from ``settings``/``collection``; and whether it is new
    (then the adapter owns it and closes it in ``close``)."""
    if rag is not None:
        if settings is not None or collection is not None:
            raise ConfigError(
                "give either rag=RAG(...) or settings/collection, not both (the RAG already "
                "has its settings and collection)"
            )
        return rag, False
    return (RAG(settings) if collection is None else RAG(settings, collection=collection)), True


# --- nodes <-> chunks ---


def node_to_chunk(node: BaseNode) -> Chunk:
    """The rag chunk that holds ``node``: its text, its ref doc id as source, its metadata
    (cleaned, so filterable) and the node itself as JSON (to give it back unchanged)."""
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    stored = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
    metadata = clean_metadata(node.metadata)
    metadata[NODE_CONTENT_KEY] = stored[NODE_CONTENT_KEY]
    metadata[NODE_TYPE_KEY] = stored[NODE_TYPE_KEY]
    return Chunk(
        id=node.node_id,
        text=text,
        source=node.ref_doc_id or node.node_id,
        content_hash=content_hash(text),
        metadata=metadata,
    )


def chunk_to_node(chunk: Chunk) -> BaseNode:
    """The node a chunk holds (as it was added by ``RagVectorStore``), or, for a chunk rag
    ingested itself, a ``TextNode`` of its text and metadata (rag's reserved ``_rag_`` keys,
    such as the chunk's span, left out: LlamaIndex puts metadata into prompts) whose ref doc
    is its source."""
    content = chunk.metadata.get(NODE_CONTENT_KEY)
    if isinstance(content, str):
        kind = chunk.metadata.get(NODE_TYPE_KEY)
        return metadata_dict_to_node(
            {NODE_CONTENT_KEY: content, NODE_TYPE_KEY: kind}, text=chunk.text
        )
    return TextNode(
        id_=chunk.id,
        text=chunk.text,
        metadata={
            k: v
            for k, v in chunk.metadata.items()
            if k not in _ADAPTER_KEYS and not k.startswith(RESERVED_PREFIX)
        },
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.source)},
    )


# --- the vector store ---


class RagVectorStore(BasePydanticVectorStore):
    """LlamaIndex nodes in a rag store (see the module docstring).

    ``RagVectorStore(rag=RAG(...))`` uses that RAG's store (and its keyword tokenizer, so the
    nodes are found by rag's keyword leg too); ``RagVectorStore(settings=..., collection=...)``
    builds a RAG from them. Only the default (dense) query mode is served here: use
    ``RagRetriever`` for rag's hybrid or keyword retrieval.
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    flat_metadata: bool = False

    _rag: RAG = PrivateAttr()
    _owned: bool = PrivateAttr(default=False)

    def __init__(
        self,
        rag: RAG | None = None,
        *,
        settings: Settings | None = None,
        collection: str | None = None,
    ) -> None:
        super().__init__(stores_text=True)
        self._rag, self._owned = _resolve_rag(rag, settings, collection)

    def close(self) -> None:
        """Close the RAG built from ``settings``/``collection`` (a RAG given stays open)."""
        if self._owned:
            self._rag.close()

    @classmethod
    def class_name(cls) -> str:
        return "RagVectorStore"

    @property
    def rag(self) -> RAG:
        """The RAG whose store holds the nodes."""
        return self._rag

    @property
    def client(self) -> Store:
        """The rag store (``rag.stores.base.Store``)."""
        return self._rag.store

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store ``nodes`` with their embeddings (an id already stored is replaced)."""
        if not nodes:
            return []
        missing = [n.node_id for n in nodes if n.embedding is None]
        if missing:
            raise ConfigError(
                f"RagVectorStore.add: node(s) {missing[:3]} have no embedding; embed them "
                "first (VectorStoreIndex does, with its embed_model)"
            )
        chunks = [node_to_chunk(n) for n in nodes]
        vectors = np.asarray([n.embedding for n in nodes], dtype=np.float32)
        store = self._rag.store
        terms = None
        if keyword_search(store) is not None:
            by_id = keyword_terms(self._rag.keyword_tokenizer, chunks)
            terms = [by_id[c.id] for c in chunks]
        store.write(chunks, vectors, DuplicatePolicy.OVERWRITE, terms=terms)
        return [c.id for c in chunks]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the document ``ref_doc_id`` (its rag source), and only those."""
        self._rag.store.delete_source(ref_doc_id)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id (rag stores delete by id or by source, not by filter)."""
        if filters is not None:
            raise ConfigError(
                "RagVectorStore.delete_nodes takes node_ids only: a rag store deletes by id or "
                "by source; query with the filters first, then delete the ids"
            )
        if node_ids:
            self._rag.store.delete_ids(node_ids)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes closest to ``query.query_embedding`` that pass its
        filters, ``doc_ids`` and ``node_ids``, closest first (scores: cosine similarity)."""
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise ConfigError(
                f"RagVectorStore serves the default (dense) query mode, not {query.mode.value!r}; "
                "use rag.integrations.llamaindex.RagRetriever for rag's hybrid or keyword "
                "retrieval"
            )
        if query.query_embedding is None:
            raise ConfigError("RagVectorStore.query needs query.query_embedding")
        k = query.similarity_top_k
        vector = np.asarray(query.query_embedding, dtype=np.float32)
        branches = to_branches(query.filters, doc_ids=query.doc_ids, node_ids=query.node_ids)
        best: dict[str, ScoredChunk] = {}
        for branch in branches:
            for hit in self._query_branch(vector, k, branch):
                seen = best.get(hit.chunk.id)
                if seen is None or hit.score > seen.score:
                    best[hit.chunk.id] = hit
        hits = sorted(best.values(), key=lambda h: -h.score)[:k]
        return VectorStoreQueryResult(
            nodes=[chunk_to_node(h.chunk) for h in hits],
            similarities=[h.score for h in hits],
            ids=[h.chunk.id for h in hits],
        )

    def _query_branch(
        self, vector: np.ndarray[Any, Any], k: int, branch: Branch
    ) -> list[ScoredChunk]:
        """The top ``k`` of one conjunction: one store query when the store can say it all,
        else batches of growing size checked in Python until ``k`` pass or none are left."""
        store = self._rag.store
        filters: Filters | None = branch.filters or None
        if branch.exact:
            return store.query(vector, k, filters)
        fetch = max(4 * k, 16)
        while True:
            hits = store.query(vector, fetch, filters)
            kept = [h for h in hits if branch.accepts(h.chunk)]
            if len(kept) >= k or len(hits) < fetch:
                return kept[:k]
            fetch *= 4

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)


# --- the retriever ---


def citation(hit: ScoredChunk, rank: int, legs: LegRanks | None) -> dict[str, Any]:
    """rag's citation of one hit, as put under ``CITATION_KEY``."""
    loc = hit.chunk.location
    return {
        "source": hit.chunk.source,
        "root": hit.chunk.root,
        "rel_path": hit.chunk.rel_path,
        "page": loc.page,
        "start_line": loc.start_line,
        "end_line": loc.end_line,
        "heading": " > ".join(loc.heading_path) or None,
        "record": loc.record,
        "location": loc.describe() or None,
        "chunk_id": hit.chunk.id,
        "rank": rank,
        "score": hit.score,
        "dense_rank": None if legs is None else legs.dense_rank,
        "keyword_rank": None if legs is None else legs.keyword_rank,
    }


class RagRetriever(BaseRetriever):
    """rag's retrieval (``RAG.retrieve``) as a LlamaIndex retriever.

    ``k``: hits per query (default: the RAG's ``top_k``); ``where``: a rag filter
    (``{"lang": "ko", "year": {"$gte": 2020}}``) or a LlamaIndex ``MetadataFilters`` that is
    one AND of supported operators; ``mode``: ``dense``, ``keyword`` or ``hybrid`` (default:
    the RAG's ``retrieval_mode``). Each node carries rag's citation under ``CITATION_KEY``.
    """

    def __init__(
        self,
        rag: RAG | None = None,
        *,
        k: int | None = None,
        where: Filters | MetadataFilters | None = None,
        mode: Literal["dense", "keyword", "hybrid"] | None = None,
        settings: Settings | None = None,
        collection: str | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        super().__init__(callback_manager=callback_manager)
        if k is not None and k < 1:
            raise ConfigError(f"RagRetriever: k must be at least 1, got {k}")
        where = _rag_filters(where)
        given, owned = _resolve_rag(rag, settings, collection)
        base = given
        if mode is not None and mode != base.settings.retrieval_mode:
            base = base.with_settings(base.settings.model_copy(update={"retrieval_mode": mode}))
        self._owned = [base] if base is not given else []
        if owned:
            self._owned.append(given)
        self._rag = base
        self.k = k
        self.where = where
        self.mode = base.settings.retrieval_mode

    @property
    def rag(self) -> RAG:
        return self._rag

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        retrieval = self._rag.retrieve(query_bundle.query_str, k=self.k, filters=self.where)
        out = []
        for rank, hit in enumerate(retrieval, start=1):
            node = chunk_to_node(hit.chunk)
            node.metadata[CITATION_KEY] = citation(hit, rank, retrieval.rank_of(hit.chunk.id))
            for excluded in (node.excluded_llm_metadata_keys, node.excluded_embed_metadata_keys):
                if CITATION_KEY not in excluded:
                    excluded.append(CITATION_KEY)
            out.append(NodeWithScore(node=node, score=hit.score))
        return out

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)

    def close(self) -> None:
        """Close what this retriever built (the RAG for ``mode``, the RAG from ``settings``);
        a RAG given stays open."""
        for owned in self._owned:  # the derived RAG first: it borrows the other's parts
            owned.close()
        self._owned = []


def _rag_filters(where: Filters | MetadataFilters | None) -> Filters | None:
    """``where`` in rag's grammar: as given, or a LlamaIndex filter that is one conjunction."""
    if where is None or not isinstance(where, MetadataFilters):
        from rag.stores.base import validate_filters

        validate_filters(where)
        return where
    branches = to_branches(where)
    if len(branches) != 1 or not branches[0].exact:
        raise ConfigError(
            "RagRetriever(where=...) takes a MetadataFilters that is one AND of conditions, at "
            "most one per key and operator (rag's hybrid retrieval runs one filter); "
            "use RagVectorStore for OR and NIN"
        )
    return branches[0].filters or None


# --- the embedder ---


class RagEmbedding(BaseEmbedding):
    """rag's embedder as a LlamaIndex embedding model (queries embedded as queries)."""

    _rag: RAG = PrivateAttr()

    def __init__(
        self,
        rag: RAG | None = None,
        *,
        settings: Settings | None = None,
        collection: str | None = None,
        embed_batch_size: int = 64,
    ) -> None:
        resolved, _ = _resolve_rag(rag, settings, collection)  # shares the RAG's embedder
        super().__init__(model_name="rag", embed_batch_size=embed_batch_size)
        self._rag = resolved

    @classmethod
    def class_name(cls) -> str:
        return "RagEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._rag.embedder.embed([query], input_type="query")[0]]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        rows = self._rag.embedder.embed(texts, input_type="document")
        return [[float(x) for x in row] for row in rows]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
