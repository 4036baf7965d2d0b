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
``MissingDependencyError`` naming the ``langchain`` extra. The adapters live in private
modules beside this one (``_langchain_store``, ``_langchain_retriever``, ``_langchain_llm``,
and ``_langchain_documents`` for the conversions) and are re-exported here.
"""

from __future__ import annotations

from rag._lazy import require

require("langchain_core", "langchain", "rag.integrations.langchain")

from langchain_core.embeddings import Embeddings  # noqa: E402

from rag.api import RAG  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.integrations._langchain_documents import ID_KEY as ID_KEY  # noqa: E402
from rag.integrations._langchain_documents import to_document  # noqa: E402
from rag.integrations._langchain_llm import LangChainLLM, from_langchain  # noqa: E402
from rag.integrations._langchain_retriever import Mode as Mode  # noqa: E402
from rag.integrations._langchain_retriever import RagRetriever  # noqa: E402
from rag.integrations._langchain_store import RagVectorStore  # noqa: E402

__all__ = [
    "LangChainLLM",
    "RagEmbeddings",
    "RagRetriever",
    "RagVectorStore",
    "from_langchain",
    "to_document",
]


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
