"""rag inside LangChain, and LangChain's parts inside rag.

    from rag.integrations.langchain import RagVectorStore, RagRetriever, RagEmbeddings
    store = RagVectorStore(embedding=RagEmbeddings())      # any LangChain Embeddings works too
    retriever = RagRetriever(rag=RAG(collection="handbook"), k=4)   # rag's hybrid retrieval
    RAG(llm=from_langchain(ChatOpenAI(model="gpt-4o-mini")))      # usage and cost recorded

- ``RagVectorStore``: a LangChain ``VectorStore`` over a rag store (in memory unless the
  settings name Chroma or pgvector), embedding with the LangChain ``Embeddings`` it is given.
  A document is stored whole, as one chunk, under its id (LangChain stores do not split).
- ``RagRetriever``: rag's retrieval (hybrid by default) as a LangChain retriever: ``k`` at
  construction and per call, ``where`` filters (rag's grammar, ``rag.stores.base``), ``mode``.
- ``RagEmbeddings``: rag's embedder as LangChain ``Embeddings`` (sync, and async in a thread).
- ``from_langchain(chat_model)``: a LangChain chat model as rag's ``LLM`` (and ``AsyncLLM``).

Documents come back exactly as given: ``page_content`` and the metadata the user wrote, with
none of rag's keys (``rag.pipelines.ingest_documents.user_metadata``). rag's own fields live
elsewhere: ``Document.id`` is the chunk id, and ``RagRetriever.retrieval(query)`` returns rag's
``Retrieval`` for the same search (per hit: score, source, location for a citation, and
``rank_of(doc.id)``, the rank in each leg); ``similarity_search_with_score`` gives the score.

LangChain is imported here, never by ``import rag``; without it this module raises
``MissingDependencyError`` naming the ``langchain`` extra.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Literal

from rag._lazy import require

require("langchain_core", "langchain", "rag.integrations.langchain")

import numpy as np  # noqa: E402
from langchain_core.callbacks import (  # noqa: E402
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from langchain_core.vectorstores import VectorStore  # noqa: E402
from pydantic import ConfigDict, Field, PrivateAttr  # noqa: E402

from rag.aio import AsyncRAG  # noqa: E402
from rag.api import RAG  # noqa: E402
from rag.chunking import content_hash  # noqa: E402
from rag.config import Settings, load_settings  # noqa: E402
from rag.costs.pricing import PriceTable, load_prices  # noqa: E402
from rag.errors import BackendError, CollectionNotFoundError  # noqa: E402
from rag.llms.base import Completion, Message, StreamEvent, approx_tokens  # noqa: E402
from rag.pipelines.ingest_documents import (  # noqa: E402
    SOURCE_KEYS,
    stored_metadata,
    user_metadata,
)
from rag.stores.base import Filters, keyword_search  # noqa: E402
from rag.types import Chunk, MetadataValue, Retrieval, ScoredChunk, Usage  # noqa: E402

__all__ = [
    "LangChainLLM",
    "RagEmbeddings",
    "RagRetriever",
    "RagVectorStore",
    "from_langchain",
    "to_document",
]

ID_KEY = "_rag_id"
"""A ``RagVectorStore`` document's id, also in its metadata so ``get_by_ids`` can filter on it
(``user_metadata`` leaves it out, as every ``_rag_`` key)."""

Mode = Literal["dense", "keyword", "hybrid"]


def to_document(chunk: Chunk) -> Document:
    """A stored chunk as the LangChain ``Document`` the user gave: its text, the user's
    metadata, and the chunk id as ``id``."""
    return Document(id=chunk.id, page_content=chunk.text, metadata=user_metadata(chunk.metadata))


# --- the vector store ---


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


def _chunk(text: str, metadata: dict[Any, Any], doc_id: str) -> Chunk:
    """One whole document as a chunk: its source from the metadata (as ``ingest_documents``
    reads it) or else its id, and its id in the metadata for ``get_by_ids``."""
    source = next((v for k in SOURCE_KEYS if isinstance(v := metadata.get(k), str) and v), doc_id)
    return Chunk(
        id=doc_id,
        text=text,
        source=source,
        content_hash=content_hash(text),
        metadata={**stored_metadata(metadata), ID_KEY: doc_id},
    )


# --- the retriever ---


class RagRetriever(BaseRetriever):
    """rag's retrieval (hybrid, Korean-aware) as a LangChain retriever over a ``RAG`` (or an
    ``AsyncRAG``, whose async retrieval ``ainvoke`` awaits). ``k``: hits (default: the
    settings' ``top_k``); ``where``: rag's metadata filters; ``mode``: dense, keyword or
    hybrid (default: the settings'). Each may also be given per call:
    ``retriever.invoke(q, k=2, where={"lang": "ko"}, mode="keyword")`` (a call's ``where``
    adds to the constructor's, its fields winning)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    rag: RAG | AsyncRAG
    k: int | None = Field(default=None, ge=1)
    where: dict[str, Any] | None = None
    mode: Mode | None = None

    _modes: dict[str, RAG] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _sync_rag(self, mode: Mode | None) -> RAG:
        """The RAG for ``mode``: the given one, or one ``with_settings`` over its parts (made
        once per mode)."""
        base = self.rag.rag if isinstance(self.rag, AsyncRAG) else self.rag
        mode = mode or self.mode
        if mode is None or mode == base.settings.retrieval_mode:
            return base
        with self._lock:
            found = self._modes.get(mode)
            if found is None:
                settings = base.settings.model_copy(update={"retrieval_mode": mode})
                found = self._modes[mode] = base.with_settings(settings)
            return found

    def retrieval(
        self,
        query: str,
        *,
        k: int | None = None,
        where: Filters | None = None,
        mode: Mode | None = None,
    ) -> Retrieval:
        """rag's ``Retrieval`` for what ``invoke`` returns: per hit its score, source and
        location (a citation) and its rank in each leg."""
        rag = self._sync_rag(mode)
        return rag.retrieve(query, k=k or self.k, filters=self._filters(where))

    def _filters(self, where: Filters | None) -> Filters | None:
        """The construction's ``where`` with the call's on top (a call's field wins)."""
        merged = {**(self.where or {}), **(where or {})}
        return merged or None

    async def aretrieval(
        self,
        query: str,
        *,
        k: int | None = None,
        where: Filters | None = None,
        mode: Mode | None = None,
    ) -> Retrieval:
        """``retrieval`` awaited: on an ``AsyncRAG`` its own async retrieval (pgvector's async
        pool), else in a worker thread."""
        if isinstance(self.rag, AsyncRAG):
            arag = self.rag
            rag = self._sync_rag(mode)
            if rag is not arag.rag:
                arag = AsyncRAG.wrap(rag, executor=arag.executor)
            return await arag.retrieve(query, k=k or self.k, filters=self._filters(where))
        from langchain_core.runnables.config import run_in_executor

        return await run_in_executor(None, self.retrieval, query, k=k, where=where, mode=mode)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        where: Filters | None = None,
        mode: Mode | None = None,
    ) -> list[Document]:
        hits = self.retrieval(query, k=k, where=where, mode=mode)
        return [to_document(h.chunk) for h in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        where: Filters | None = None,
        mode: Mode | None = None,
    ) -> list[Document]:
        hits = await self.aretrieval(query, k=k, where=where, mode=mode)
        return [to_document(h.chunk) for h in hits]


# --- embeddings ---


class RagEmbeddings(Embeddings):
    """rag's embedder (by default the packaged all-MiniLM-L6-v2 on int8 ONNX, built on first
    use) as LangChain ``Embeddings``. ``rag``: take a RAG's embedder; ``settings``: build one
    from them. The async methods run the sync ones in a worker thread (LangChain's default)."""

    def __init__(self, *, rag: RAG | None = None, settings: Settings | None = None) -> None:
        self.rag = rag if rag is not None else RAG(settings)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.rag.embedder.embed(texts, input_type="document")
        return [[float(x) for x in row] for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        vector = self.rag.embedder.embed([text], input_type="query")[0]
        return [float(x) for x in vector]


# --- a LangChain chat model as rag's LLM ---

_BACKENDS = {"openai": "openai", "azure": "openai", "anthropic": "anthropic"}
"""LangChain ``_llm_type`` prefixes whose prices are rag's backend's (``rag/costs/prices.toml``)."""


def _backend_of(chat_model: BaseChatModel) -> str:
    llm_type = chat_model._llm_type
    for prefix, backend in _BACKENDS.items():
        if llm_type.startswith(prefix):
            return backend
    return llm_type


def _model_of(chat_model: BaseChatModel) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(chat_model, attr, None)
        if isinstance(value, str) and value:
            return value
    return chat_model._llm_type


class LangChainLLM:
    """A LangChain chat model behind rag's ``LLM`` and ``AsyncLLM`` protocols. Usage comes from
    the reply's ``usage_metadata`` (input, output, cache-read and cache-write tokens), or is
    estimated (``approx_tokens``) when the model reports none; cost from rag's price list for
    ``backend``/``model`` (None, with a warning, when unpriced). ``RAG.ask`` records it in the
    call log as for any backend. Errors become ``BackendError``."""

    supports_streaming = True

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        backend: str | None = None,
        model: str | None = None,
        context_window: int | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.chat_model = chat_model
        self.backend = backend or _backend_of(chat_model)
        self.model = model or _model_of(chat_model)
        self.prices = prices if prices is not None else load_prices()
        price = self.prices.lookup(self.backend, self.model)
        window = context_window or (price.context_window if price is not None else None)
        self._context_window = window or 8192

    @property
    def context_window(self) -> int:
        """From ``context_window``, else rag's price list, else 8192."""
        return self._context_window

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def _messages(self, messages: Sequence[Message]) -> list[BaseMessage]:
        kinds: dict[str, type[BaseMessage]] = {
            "system": SystemMessage,
            "user": HumanMessage,
            "assistant": AIMessage,
        }
        return [kinds[m.role](content=m.content) for m in messages]

    @staticmethod
    def _kwargs(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if temperature is not None:
            kwargs["temperature"] = temperature
        return kwargs

    def _usage(
        self, reply: BaseMessage, messages: Sequence[Message], text: str, started: float
    ) -> Usage:
        meta = getattr(reply, "usage_metadata", None)
        if meta:
            details = meta.get("input_token_details") or {}
            input_tokens = int(meta.get("input_tokens", 0))
            output_tokens = int(meta.get("output_tokens", 0))
            cached = int(details.get("cache_read", 0) or 0)
            written = int(details.get("cache_creation", 0) or 0)
        else:
            input_tokens = sum(approx_tokens(m.content) for m in messages)
            output_tokens = approx_tokens(text)
            cached = written = 0
        served = reply.response_metadata.get("model_name") or self.model
        cost: Decimal | None = self.prices.cost(
            self.backend,
            served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cache_write_tokens=written,
            also=self.model,
        )
        return Usage(
            backend=self.backend,
            model=served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            latency_s=time.perf_counter() - started,
            cost=cost,
        )

    def _error(self, exc: Exception) -> BackendError:
        return BackendError(
            f"{self.backend}:{self.model} (LangChain {type(self.chat_model).__name__}) failed: "
            f"{type(exc).__name__}: {exc}"
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        started = time.perf_counter()
        try:
            reply = self.chat_model.invoke(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            )
        except Exception as exc:
            raise self._error(exc) from exc
        text = str(reply.text)
        finish = reply.response_metadata.get("finish_reason")
        return Completion(
            text=text, usage=self._usage(reply, messages, text, started), finish_reason=finish
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        first: float | None = None
        total: AIMessageChunk | None = None
        try:
            for piece in self.chat_model.stream(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            ):
                total = piece if total is None else total + piece
                if piece.text:
                    first = first if first is not None else time.perf_counter() - started
                    yield StreamEvent(text=str(piece.text))
        except Exception as exc:
            raise self._error(exc) from exc
        yield self._final(total, messages, started, first)

    def _final(
        self,
        total: AIMessageChunk | None,
        messages: Sequence[Message],
        started: float,
        first: float | None,
    ) -> StreamEvent:
        reply = total if total is not None else AIMessageChunk(content="")
        text = str(reply.text)
        usage = self._usage(reply, messages, text, started)
        usage.time_to_first_token_s = first
        finish = reply.response_metadata.get("finish_reason")
        return StreamEvent(completion=Completion(text=text, usage=usage, finish_reason=finish))

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        started = time.perf_counter()
        try:
            reply = await self.chat_model.ainvoke(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            )
        except Exception as exc:
            raise self._error(exc) from exc
        text = str(reply.text)
        finish = reply.response_metadata.get("finish_reason")
        return Completion(
            text=text, usage=self._usage(reply, messages, text, started), finish_reason=finish
        )

    async def astream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        started = time.perf_counter()
        first: float | None = None
        total: AIMessageChunk | None = None
        try:
            async for piece in self.chat_model.astream(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            ):
                total = piece if total is None else total + piece
                if piece.text:
                    first = first if first is not None else time.perf_counter() - started
                    yield StreamEvent(text=str(piece.text))
        except Exception as exc:
            raise self._error(exc) from exc
        yield self._final(total, messages, started, first)

    async def aclose(self) -> None:
        """Nothing to release: the chat model's clients belong to whoever made it."""


def from_langchain(
    chat_model: BaseChatModel,
    *,
    backend: str | None = None,
    model: str | None = None,
    context_window: int | None = None,
    prices: PriceTable | None = None,
) -> LangChainLLM:
    """A LangChain chat model as rag's LLM: ``RAG(llm=from_langchain(ChatOpenAI(...)))``.
    ``backend``/``model`` name it in the call log and price list (default: from the model:
    ``ChatOpenAI`` -> ``openai``, ``ChatAnthropic`` -> ``anthropic``, else its ``_llm_type``)."""
    return LangChainLLM(
        chat_model, backend=backend, model=model, context_window=context_window, prices=prices
    )
