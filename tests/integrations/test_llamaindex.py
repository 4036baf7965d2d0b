"""The LlamaIndex adapters (``rag.integrations.llamaindex``) against real llama_index.core.

Offline: LlamaIndex's tokenizer (tiktoken) and NLTK data come from the caches bundled in
llama-index-core; the suite's network guard (``tests/no_real_llm.py``) fails any test that
tries to download them. Embeddings are rag's deterministic ``FakeEmbedder`` through
``RagEmbedding``; the LLM is LlamaIndex's ``MockLLM``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms import CustomLLM, MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.vector_stores.types import (
    ExactMatchFilter,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from rag import RAG
from rag.config import load_settings
from rag.errors import BackendError, ConfigError
from rag.integrations.llamaindex import (
    CITATION_KEY,
    RagEmbedding,
    RagRetriever,
    RagVectorStore,
    from_llamaindex,
)
from rag.stores.base import Filters, Store
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM

CORPUS = [
    ("d1", "Apples are red fruit grown in orchards.", {"year": 2019, "lang": "en", "w": 0.5}),
    ("d2", "Bananas are yellow fruit from the tropics.", {"year": 2021, "lang": "ko", "w": 1.5}),
    ("d3", "Cherries are small red fruit with stones.", {"year": 2022, "lang": "de", "w": 2.5}),
    ("d4", "Dates are sweet brown fruit from palms.", {"year": 2023, "lang": "en", "w": 3.5}),
    ("d5", "Elderberries are dark fruit used in syrup.", {"lang": "fr"}),  # no year, no w
]


@pytest.fixture()
def rag(any_store: Store) -> Iterator[RAG]:
    """A RAG over each real store (memory, Chroma in a temp dir, pgvector) and fake parts."""
    r = RAG(store=any_store, embedder=FakeEmbedder(), llm=ScriptedLLM())
    yield r
    r.close()


def _index(rag: RAG, docs: list[Document] | None = None, **splitter: Any) -> VectorStoreIndex:
    """``docs`` (default: CORPUS) added to a ``RagVectorStore`` through a VectorStoreIndex."""
    if docs is None:
        docs = [Document(text=t, metadata=dict(m), id_=i) for i, t, m in CORPUS]
    context = StorageContext.from_defaults(vector_store=RagVectorStore(rag=rag))
    return VectorStoreIndex.from_documents(
        docs,
        storage_context=context,
        embed_model=RagEmbedding(rag=rag),
        transformations=[SentenceSplitter(**splitter)] if splitter else None,
    )


def _vector(rag: RAG, text: str) -> list[float]:
    return RagEmbedding(rag=rag).get_query_embedding(text)


def test_index_and_query_engine_end_to_end(rag: RAG) -> None:
    """from_vector_store + a query engine with MockLLM: the right node, as it was written."""
    _index(rag)
    index = VectorStoreIndex.from_vector_store(
        RagVectorStore(rag=rag), embed_model=RagEmbedding(rag=rag)
    )
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=2)
    response = engine.query("yellow bananas tropics")
    top = response.source_nodes[0]
    assert top.node.ref_doc_id == "d2"
    assert top.node.get_content() == "Bananas are yellow fruit from the tropics."
    assert top.node.metadata == {"year": 2021, "lang": "ko", "w": 1.5}  # nothing of rag's
    assert "Bananas are yellow fruit" in str(response)  # MockLLM echoes the prompt
    assert len(response.source_nodes) == 2


def test_metadata_comes_back_as_written(rag: RAG) -> None:
    """None, lists, nested values and a key named like a rag field survive the round trip;
    the filterable copy in the store is rag's cleaned form."""
    metadata = {"tags": ["a", None], "none": None, "nested": {"k": 1}, "source": "mine"}
    _index(rag, [Document(text="Figs are soft fruit.", metadata=metadata, id_="fig")])
    store = RagVectorStore(rag=rag)
    result = store.query(VectorStoreQuery(query_embedding=_vector(rag, "figs"), similarity_top_k=3))
    assert result.nodes is not None
    assert [n.metadata for n in result.nodes] == [metadata]
    assert result.nodes[0].ref_doc_id == "fig"


FILTER_CASES: list[tuple[str, MetadataFilters, list[Filters]]] = [
    (
        "exact-match",
        MetadataFilters(filters=[ExactMatchFilter(key="lang", value="en")]),
        [{"lang": "en"}],
    ),
    (
        "gt",
        MetadataFilters(
            filters=[MetadataFilter(key="year", value=2020, operator=FilterOperator.GT)]
        ),
        [{"year": {"$gt": 2020}}],
    ),
    (
        "in",
        MetadataFilters(
            filters=[MetadataFilter(key="lang", value=["en", "ko"], operator=FilterOperator.IN)]
        ),
        [{"lang": ["en", "ko"]}],
    ),
    (
        "range-and",
        MetadataFilters(
            filters=[
                MetadataFilter(key="year", value=2021, operator=FilterOperator.GTE),
                MetadataFilter(key="w", value=3.5, operator=FilterOperator.LT),
                MetadataFilter(key="lang", value="ko", operator=FilterOperator.NE),
            ]
        ),
        [{"year": {"$gte": 2021}, "w": {"$lt": 3.5}, "lang": {"$ne": "ko"}}],
    ),
    (
        "lte-float",
        MetadataFilters(filters=[MetadataFilter(key="w", value=1.5, operator=FilterOperator.LTE)]),
        [{"w": {"$lte": 1.5}}],
    ),
    (
        "or",
        MetadataFilters(
            filters=[
                ExactMatchFilter(key="lang", value="fr"),
                MetadataFilter(key="year", value=2022, operator=FilterOperator.GTE),
            ],
            condition=FilterCondition.OR,
        ),
        [{"lang": "fr"}, {"year": {"$gte": 2022}}],  # union
    ),
    (
        "nested-and-or",
        MetadataFilters(
            filters=[
                MetadataFilters(
                    filters=[
                        ExactMatchFilter(key="lang", value="en"),
                        ExactMatchFilter(key="lang", value="de"),
                    ],
                    condition=FilterCondition.OR,
                ),
                MetadataFilter(key="year", value=2020, operator=FilterOperator.GT),
            ]
        ),
        [{"lang": "en", "year": {"$gt": 2020}}, {"lang": "de", "year": {"$gt": 2020}}],
    ),
]


@pytest.mark.parametrize(
    ("li_filter", "rag_filters"),
    [(f, r) for _, f, r in FILTER_CASES],
    ids=[name for name, _, _ in FILTER_CASES],
)
def test_filters_agree_with_rag(
    rag: RAG, li_filter: MetadataFilters, rag_filters: list[Filters]
) -> None:
    """A LlamaIndex filter returns what rag's own filter returns on the same data (the union
    for an OR), in the same order, at every k."""
    _index(rag)
    question = "red fruit"
    vector = np.asarray(_vector(rag, question), dtype=np.float32)
    expected: dict[str, float] = {}
    for filters in rag_filters:
        for hit in rag.store.query(vector, 10, filters):
            expected[hit.chunk.source] = hit.score
    order = sorted(expected, key=lambda d: -expected[d])
    assert order, "the case must match something"
    store = RagVectorStore(rag=rag)
    for k in (1, 2, 10):
        query = VectorStoreQuery(
            query_embedding=vector.tolist(), similarity_top_k=k, filters=li_filter
        )
        result = store.query(query)
        assert result.nodes is not None and result.similarities is not None
        got = [n.ref_doc_id for n in result.nodes]
        assert set(got) == set(order[:k])
        assert result.similarities == pytest.approx(sorted(expected.values(), reverse=True)[:k])
    retrieved = VectorStoreIndex.from_vector_store(store, embed_model=RagEmbedding(rag=rag))
    nodes = retrieved.as_retriever(similarity_top_k=10, filters=li_filter).retrieve(question)
    assert {n.node.ref_doc_id for n in nodes} == set(order)


def test_nin_agrees_with_rag(rag: RAG) -> None:
    """NIN (several ``$ne`` on one key, checked in Python past the first) gives the
    intersection of rag's ``$ne`` results, top k exactly."""
    _index(rag)
    vector = np.asarray(_vector(rag, "red fruit"), dtype=np.float32)
    per_value = [
        {h.chunk.source: h.score for h in rag.store.query(vector, 10, {"lang": {"$ne": v}})}
        for v in ("en", "de")
    ]
    both = {d: s for d, s in per_value[0].items() if d in per_value[1]}
    order = sorted(both, key=lambda d: -both[d])
    assert set(order) == {"d2", "d5"}
    li_filter = MetadataFilters(
        filters=[MetadataFilter(key="lang", value=["en", "de"], operator=FilterOperator.NIN)]
    )
    store = RagVectorStore(rag=rag)
    for k in (1, 2, 5):
        result = store.query(
            VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k, filters=li_filter)
        )
        assert result.nodes is not None
        assert [n.ref_doc_id for n in result.nodes] == order[:k]


def test_doc_ids_and_node_ids_restrict_the_query(rag: RAG) -> None:
    _index(rag)
    store = RagVectorStore(rag=rag)
    vector = _vector(rag, "fruit")
    by_docs = store.query(
        VectorStoreQuery(query_embedding=vector, similarity_top_k=10, doc_ids=["d1", "d3"])
    )
    assert by_docs.nodes is not None
    assert {n.ref_doc_id for n in by_docs.nodes} == {"d1", "d3"}
    wanted = sorted(rag.store.ids_for_source("d4") | rag.store.ids_for_source("d5"))
    by_nodes = store.query(
        VectorStoreQuery(query_embedding=vector, similarity_top_k=1, node_ids=wanted)
    )
    assert by_nodes.ids is not None and len(by_nodes.ids) == 1 and by_nodes.ids[0] in wanted


@pytest.mark.parametrize(
    ("li_filter", "message"),
    [
        (
            MetadataFilters(
                filters=[MetadataFilter(key="lang", value="e", operator=FilterOperator.TEXT_MATCH)]
            ),
            "TEXT_MATCH",
        ),
        (
            MetadataFilters(
                filters=[MetadataFilter(key="tags", value="a", operator=FilterOperator.CONTAINS)]
            ),
            "CONTAINS",
        ),
        (
            MetadataFilters(
                filters=[ExactMatchFilter(key="lang", value="en")], condition=FilterCondition.NOT
            ),
            "'not'",
        ),
        (
            MetadataFilters(
                filters=[MetadataFilter(key="lang", value="en", operator=FilterOperator.GT)]
            ),
            "only numbers",
        ),
        (MetadataFilters(filters=[ExactMatchFilter(key="bad key", value="x")]), "bad key"),
    ],
    ids=["text-match", "contains", "not", "range-on-text", "bad-key"],
)
def test_unsupported_filters_are_refused(li_filter: MetadataFilters, message: str) -> None:
    rag = RAG(store=MemoryStore("li"), embedder=FakeEmbedder())
    _index(rag)
    store = RagVectorStore(rag=rag)
    query = VectorStoreQuery(
        query_embedding=_vector(rag, "fruit"), similarity_top_k=2, filters=li_filter
    )
    with pytest.raises(ConfigError, match=message):
        store.query(query)


def test_delete_by_ref_doc_id_removes_exactly_that_documents_nodes(rag: RAG) -> None:
    """Each document split into several nodes; deleting one document removes its nodes
    and nothing else, from the store and from queries."""
    long_docs = [
        Document(
            text=" ".join(f"Line {j} of the {name} notes about fruit." for j in range(40)),
            metadata={"name": name},
            id_=name,
        )
        for name in ("alpha", "beta", "gamma")
    ]
    _index(rag, long_docs, chunk_size=64, chunk_overlap=0)
    nodes_of = {name: rag.store.ids_for_source(name) for name in ("alpha", "beta", "gamma")}
    assert all(len(ids) > 1 for ids in nodes_of.values())
    before = rag.store.count()
    assert before == sum(len(ids) for ids in nodes_of.values())
    store = RagVectorStore(rag=rag)
    store.delete("beta")
    assert rag.store.count() == before - len(nodes_of["beta"])
    assert rag.store.ids_for_source("beta") == set()
    for doc in ("alpha", "gamma"):
        assert rag.store.ids_for_source(doc) == nodes_of[doc]
    result = store.query(
        VectorStoreQuery(query_embedding=_vector(rag, "beta fruit"), similarity_top_k=1000)
    )
    assert result.nodes is not None
    assert {n.ref_doc_id for n in result.nodes} == {"alpha", "gamma"}
    assert len(result.nodes) == before - len(nodes_of["beta"])


def test_adapters_from_settings_and_collection() -> None:
    """Built from settings/collection, an adapter owns its RAG and closes it."""
    store = RagVectorStore(settings=load_settings(store="memory"), collection="li-notes")
    assert store.client.collection == "li-notes"
    assert store.stores_text is True
    with pytest.raises(ConfigError, match="not both"):
        RagVectorStore(rag=store.rag, collection="other")
    store.close()
    retriever = RagRetriever(
        settings=load_settings(store="memory"), collection="li-notes", mode="keyword"
    )
    assert retriever.rag.settings.collection == "li-notes" and retriever.mode == "keyword"
    retriever.close()
    with pytest.raises(ConfigError, match="at least 1"):
        RagRetriever(rag=store.rag, k=0)


def test_store_async_query_and_nodes_found_by_rag_keyword_leg() -> None:
    """aquery gives query's answer; nodes written through the adapter carry keyword terms,
    so rag's own hybrid retrieval finds them by keyword too."""
    rag = RAG(store=MemoryStore("li"), embedder=FakeEmbedder(), retrieval_mode="keyword")
    _index(rag)
    store = RagVectorStore(rag=rag)
    query = VectorStoreQuery(query_embedding=_vector(rag, "palms"), similarity_top_k=2)
    assert asyncio.run(store.aquery(query)).ids == store.query(query).ids
    assert rag.retrieve("palms", k=1)[0].chunk.source == "d4"


# --- the retriever ---


@pytest.fixture()
def ingested(tmp_path: Path) -> Iterator[RAG]:
    """A RAG that ingested Markdown files itself (citations with lines and headings)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fruit.md").write_text(
        "# Fruit\n\nApples are red and grow in orchards.\n\n## Tropical\n\n"
        "Bananas are yellow and grow in the tropics.\n"
    )
    (docs / "tools.md").write_text("# Tools\n\nA hammer drives nails into wood.\n")
    (docs / "ko.md").write_text("# 과일\n\n사과는 빨갛고 바나나는 노랗다.\n")
    r = RAG(store=MemoryStore("li"), embedder=FakeEmbedder(), llm=ScriptedLLM())
    r.ingest(docs)
    yield r
    r.close()


def test_retriever_query_engine_end_to_end(ingested: RAG) -> None:
    """RetrieverQueryEngine over RagRetriever with MockLLM: rag's ranking, rag's citation in
    each node's metadata (hidden from the LLM prompt)."""
    retriever = RagRetriever(rag=ingested, k=2)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query("bananas tropics")
    expected = ingested.retrieve("bananas tropics", k=2)
    got = response.source_nodes
    assert [n.node.node_id for n in got] == [h.chunk.id for h in expected]
    assert [n.score for n in got] == pytest.approx([h.score for h in expected])
    cite = got[0].node.metadata[CITATION_KEY]
    assert cite["source"].endswith("fruit.md")
    assert cite["heading"] == "Fruit > Tropical"
    assert cite["start_line"] is not None and cite["location"]
    assert cite["rank"] == 1 and cite["chunk_id"] == expected[0].chunk.id
    assert cite["dense_rank"] is not None
    assert got[0].node.ref_doc_id == cite["source"]
    assert not [k for k in got[0].node.metadata if k.startswith("_rag_")]  # rag's own keys
    assert "Bananas are yellow" in str(response)
    assert "chunk_id" not in str(response)  # the citation is not in the LLM's prompt


def test_retriever_where_mode_and_async(ingested: RAG) -> None:
    source = next(s for s in ingested.store.sources() if s.endswith("tools.md"))
    retriever = RagRetriever(rag=ingested, k=3, where={"source": source})
    nodes = retriever.retrieve("fruit hammer")
    assert nodes and {n.node.metadata[CITATION_KEY]["source"] for n in nodes} == {source}
    as_li = RagRetriever(
        rag=ingested,
        k=3,
        where=MetadataFilters(filters=[ExactMatchFilter(key="source", value=source)]),
    )
    assert [n.node.node_id for n in as_li.retrieve("fruit hammer")] == [
        n.node.node_id for n in nodes
    ]
    keyword = RagRetriever(rag=ingested, k=2, mode="keyword")
    try:
        assert keyword.mode == "keyword"
        got = asyncio.run(keyword.aretrieve("hammer"))
        assert got[0].node.metadata[CITATION_KEY]["source"].endswith("tools.md")
        assert got[0].node.metadata[CITATION_KEY]["dense_rank"] is None
    finally:
        keyword.close()
    with pytest.raises(ConfigError, match="one AND"):
        RagRetriever(
            rag=ingested,
            where=MetadataFilters(
                filters=[
                    MetadataFilter(key="lang", value=["a"], operator=FilterOperator.NIN),
                    MetadataFilter(key="lang", value=["a", "b"], operator=FilterOperator.NIN),
                ]
            ),
        )


# --- a LlamaIndex LLM as rag's LLM ---


def test_from_llamaindex_mock_llm_through_rag_with_the_call_recorded(ingested: RAG) -> None:
    llm = from_llamaindex(MockLLM(max_tokens=4))
    rag = RAG(store=ingested.store, embedder=ingested.embedder, llm=llm, answer_mode="generative")
    answer = rag.ask("what colour are bananas?")
    assert answer.text.startswith("text text text text")
    assert answer.usage.backend == "llamaindex" and answer.usage.model == "MockLLM"
    assert answer.usage.tokens_estimated and answer.usage.cost is None
    assert answer.usage.input_tokens > 0 and answer.usage.output_tokens > 0
    events = list(rag.ask_stream("what colour are bananas?"))
    deltas = [e for e in events if isinstance(e, str)]
    assert "".join(deltas).startswith("text text text text")
    calls = rag.call_log.calls()
    assert [(c.backend, c.model, c.tokens_estimated) for c in calls] == [
        ("llamaindex", "MockLLM", True),
        ("llamaindex", "MockLLM", True),
    ]
    assert calls[0].input_tokens == answer.usage.input_tokens
    assert calls[1].ttft_s is not None


class _ReportingLLM(CustomLLM):
    """A LlamaIndex LLM that reports its usage the way OpenAI's does (``raw["usage"]``)."""

    fail: bool = False

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="reporting-1", context_window=2048)

    def chat(self, messages: Any, **kwargs: Any) -> ChatResponse:
        if self.fail:
            raise RuntimeError("provider down")
        return ChatResponse(
            message=ChatMessage(role="assistant", content="Bananas are yellow [1]."),
            raw={"usage": {"prompt_tokens": 42, "completion_tokens": 7}},
        )

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        raise NotImplementedError


def test_from_llamaindex_reported_usage_and_errors() -> None:
    from rag.llms.base import LLM, Message

    llm = from_llamaindex(_ReportingLLM())
    assert isinstance(llm, LLM)
    assert llm.model == "reporting-1" and llm.context_window == 2048
    completion = llm.complete([Message(role="user", content="colour of bananas?")])
    assert completion.text == "Bananas are yellow [1]."
    usage = completion.usage
    assert (usage.input_tokens, usage.output_tokens, usage.tokens_estimated) == (42, 7, False)
    with pytest.raises(BackendError, match="provider down"):
        from_llamaindex(_ReportingLLM(fail=True)).complete([Message(role="user", content="x")])


# --- import hygiene ---


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_importing_rag_never_imports_llama_index() -> None:
    done = _run(
        "import sys, rag, rag.integrations, rag.api\n"
        "assert not any(m.startswith('llama_index') for m in sys.modules), 'imported'\n"
    )
    assert done.returncode == 0, done.stderr


def test_missing_extra_names_it() -> None:
    done = _run(
        "import sys\n"
        "sys.modules['llama_index'] = None\n"
        "from rag.errors import MissingDependencyError\n"
        "try:\n"
        "    import rag.integrations.llamaindex\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'rag[llamaindex]'" in done.stdout
