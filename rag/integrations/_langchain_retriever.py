"""``RagRetriever``: rag's retrieval (hybrid by default, ``k``, ``where``, ``mode`` per call)
as a LangChain retriever over a ``RAG`` or an ``AsyncRAG``.

Imported through ``rag.integrations.langchain`` (which checks the ``langchain`` extra first).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from rag.aio import AsyncRAG
from rag.api import RAG
from rag.integrations._langchain_documents import to_document
from rag.stores.base import Filters
from rag.types import Retrieval

__all__ = ["Mode", "RagRetriever"]

Mode = Literal["dense", "keyword", "hybrid"]


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
