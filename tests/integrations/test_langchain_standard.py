"""LangChain's own standard suites (``langchain_tests.integration_tests``), sync and async, on
rag's adapters: the vector store in memory and on PostgreSQL + pgvector, the retriever over a
RAG, the embeddings on rag's packaged model. No standard test is overridden or skipped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)

from rag import RAG
from rag.config import load_settings
from rag.integrations.langchain import RagEmbeddings, RagRetriever, RagVectorStore
from rag.testing import FakeEmbedder


class TestRagVectorStoreMemory(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> Iterator[RagVectorStore]:  # type: ignore[override]
        store = RagVectorStore(self.get_embeddings())  # the default: an empty memory store
        try:
            yield store
        finally:
            store.close()


@pytest.mark.integration
class TestRagVectorStorePgvector(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, pg_dsn: str) -> Iterator[RagVectorStore]:  # type: ignore[override]
        settings = load_settings(store="pgvector", pg_dsn=pg_dsn)
        # a new collection per test: empty at the start
        store = RagVectorStore(
            self.get_embeddings(), collection=f"lc-{uuid.uuid4().hex[:12]}", settings=settings
        )
        try:
            yield store
        finally:
            store.close()


TOPICS = [
    ("The cat sat on the warm mat by the window.", {"topic": "pets", "n": 1}),
    ("A cat and a kitten chased the red ball.", {"topic": "pets", "n": 2}),
    ("Cats sleep for most of the day in the sun.", {"topic": "pets", "n": 3}),
    ("The stock market fell as rates rose again.", {"topic": "money", "n": 4}),
    ("Bond yields and stock prices moved apart.", {"topic": "money", "n": 5}),
]


def topic_rag() -> RAG:
    """A RAG over the five documents above (a memory store and the fake embedder)."""
    rag = RAG(load_settings(store="memory"), embedder=FakeEmbedder())
    docs = [Document(page_content=t, metadata={**m, "source": f"doc{m['n']}"}) for t, m in TOPICS]
    rag.ingest_documents(docs)
    return rag


class TestRagRetriever(RetrieversIntegrationTests):
    _rag: RAG | None = None

    @property
    def retriever_constructor(self) -> type[RagRetriever]:
        return RagRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        if TestRagRetriever._rag is None:
            TestRagRetriever._rag = topic_rag()
        return {"rag": TestRagRetriever._rag}

    @property
    def retriever_query_example(self) -> str:
        return "cat stock"


@pytest.mark.slow
class TestRagEmbeddings(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[RagEmbeddings]:
        return RagEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {}  # rag's default: the packaged all-MiniLM-L6-v2 on int8 ONNX
