"""rag with LangChain: documents in and out exactly as given, an LCEL chain end to end, a
LangChain chat model as rag's LLM (usage and cost in the call log), and the import rules."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from rag import RAG, AsyncRAG
from rag.config import load_settings
from rag.integrations.langchain import RagRetriever, RagVectorStore, from_langchain
from rag.testing import FakeEmbedder

REPO = Path(__file__).resolve().parents[2]


def memory_rag(**overrides: Any) -> RAG:
    return RAG(load_settings(store="memory", **overrides), embedder=FakeEmbedder())


def test_lcel_chain_runs_end_to_end() -> None:
    rag = memory_rag()
    rag.ingest_documents(
        [
            Document(page_content="To switch to pgvector set store and pg_dsn.", metadata={}),
            Document(page_content="Chroma is the embedded default store.", metadata={}),
        ]
    )
    retriever = RagRetriever(rag=rag, k=1)

    def format_docs(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    prompt = ChatPromptTemplate.from_messages([("user", "Sources:\n{context}\n\n{question}")])
    llm = FakeListChatModel(responses=["Set store = 'pgvector' [1]."])
    seen: list[str] = []

    def spy(value: Any) -> Any:
        seen.append(value.to_string())
        return value

    chain = (
        {"context": retriever | format_docs, "question": lambda q: q}
        | prompt
        | RunnableLambda(spy)
        | llm
        | StrOutputParser()
    )
    assert chain.invoke("how do I switch to pgvector") == "Set store = 'pgvector' [1]."
    assert "To switch to pgvector set store and pg_dsn." in seen[0]
    assert "Chroma" not in seen[0]


ODD_METADATA = {
    "source": "notes/a.md",
    "tags": ["x", "y"],
    "nested": {"b": 1, "a": [1, 2]},
    "none": None,
    "lang": "fr",
    "_rag_id": "mine",
    "n": 1,
    "f": 1.5,
    "flag": True,
}


def test_retriever_gives_back_the_documents_as_written() -> None:
    rag = memory_rag()
    docs = [
        Document(page_content="alpha beta gamma", metadata=ODD_METADATA),
        Document(page_content="delta epsilon", metadata={"source": "b", "year": 2020}),
        Document(page_content="zeta eta theta", metadata={}),
    ]
    rag.ingest_documents(docs)
    retriever = RagRetriever(rag=rag, k=3)
    got = {d.page_content: d for d in retriever.invoke("alpha delta zeta")}
    assert got["alpha beta gamma"].metadata == ODD_METADATA
    assert got["delta epsilon"].metadata == {"source": "b", "year": 2020}
    assert got["zeta eta theta"].metadata == {}
    # rag's fields: the chunk id is Document.id, the rest in retrieval()
    retrieval = retriever.retrieval("alpha delta zeta")
    assert {h.chunk.id for h in retrieval} == {d.id for d in got.values()}
    assert all(retrieval.rank_of(d.id or "") is not None for d in got.values())
    # per call: k, where (rag's filter grammar on the user's metadata), mode
    assert len(retriever.invoke("alpha delta zeta", k=1)) == 1
    only = retriever.invoke("alpha delta zeta", where={"year": {"$gte": 2000}})
    assert [d.page_content for d in only] == ["delta epsilon"]
    keyword = retriever.invoke("epsilon", mode="keyword")
    assert [d.page_content for d in keyword] == ["delta epsilon"]
    assert RagRetriever(rag=rag, mode="keyword", k=1).invoke("theta")[0].metadata == {}
    scoped = RagRetriever(rag=rag, k=3, where={"year": 2020})
    assert [d.page_content for d in scoped.invoke("alpha delta zeta")] == ["delta epsilon"]
    assert scoped.invoke("alpha delta zeta", where={"source": "notes/a.md"}) == []


def test_retriever_over_async_rag() -> None:
    async def main() -> list[Document]:
        async with AsyncRAG(load_settings(store="memory"), embedder=FakeEmbedder()) as arag:
            await arag.ingest_documents([Document(page_content="the cat sat", metadata={})])
            return await RagRetriever(rag=arag, k=2).ainvoke("cat")

    assert [d.page_content for d in asyncio.run(main())] == ["the cat sat"]


def test_vector_store_filters_and_scores() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    store = RagVectorStore(DeterministicFakeEmbedding(size=8))
    store.add_documents(
        [
            Document(page_content="one", metadata={"n": 1, "source": "s1"}),
            Document(page_content="two", metadata={"n": 2, "tags": ["a"]}),
        ]
    )
    [(doc, score)] = store.similarity_search_with_score("one", k=1)
    assert doc.page_content == "one" and doc.metadata == {"n": 1, "source": "s1"}
    assert score == pytest.approx(1.0, abs=1e-5)
    assert [d.metadata for d in store.similarity_search("one", filter={"n": {"$gt": 1}})] == [
        {"n": 2, "tags": ["a"]}
    ]
    assert [d.page_content for d in store.similarity_search("x", filter={"source": "s1"})] == [
        "one"
    ]
    relevance = store.similarity_search_with_relevance_scores("one", k=2)
    assert all(0.0 <= s <= 1.0 for _, s in relevance)


def _pages(changed: str | None = None) -> list[Document]:
    def sentences(template: str, n: int) -> str:
        return " ".join(template.format(i) for i in range(n))

    texts = {
        "intro": sentences("The widget number {} ships in a blue box.", 30),
        "install": sentences("Install widget part {} with the wrench in ten minutes.", 12),
        "care": sentences("Clean the widget with dry cloth number {} once a week.", 15),
    }
    if changed is not None:
        texts[changed] = sentences("Install widget part {} with the new tool quickly.", 12)
    return [
        Document(page_content=t, metadata={"source": "manual.pdf", "page": i, "title": k})
        for i, (k, t) in enumerate(texts.items())
    ]


def _by_page(rag: RAG) -> dict[int, set[str]]:
    """The stored chunk ids of each page (every chunk, read from the store by filter)."""
    probe = rag.embedder.embed(["widget"])[0]
    return {
        page: {h.chunk.id for h in rag.store.query(probe, 100, {"page": page})} for page in range(3)
    }


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_ingest_documents_round_trip(framework: str) -> None:
    """Loader Documents -> ingest_documents -> a re-run embeds nothing -> one changed page
    replaces exactly its chunks; the same for LlamaIndex Documents."""

    def convert(docs: list[Document]) -> list[Any]:
        if framework == "langchain":
            return list(docs)
        from llama_index.core import Document as LIDocument

        return [LIDocument(text=d.page_content, metadata=d.metadata) for d in docs]

    embedder = FakeEmbedder()
    rag = RAG(load_settings(store="memory", chunk_tokens=40, chunk_overlap=0), embedder=embedder)
    first = rag.ingest_documents(convert(_pages()))
    assert (first.files_new, first.chunks_embedded) == (1, first.chunks_written)
    assert first.chunks_written > 6
    before = _by_page(rag)
    assert set(before) == {0, 1, 2} and rag.store.sources().keys() == {"manual.pdf"}

    calls = embedder.texts_embedded
    again = rag.ingest_documents(convert(_pages()))
    assert (again.files_unchanged, again.chunks_embedded, again.chunks_written) == (1, 0, 0)
    assert embedder.texts_embedded == calls

    changed = rag.ingest_documents(convert(_pages(changed="install")))
    after = _by_page(rag)
    assert changed.files_changed == 1
    assert after[0] == before[0] and after[2] == before[2]  # untouched pages keep their chunks
    assert not after[1] & before[1]  # the changed page's chunks are all new
    assert changed.chunks_deleted == len(before[1])
    assert changed.chunks_written == changed.chunks_embedded == len(after[1])
    assert rag.store.count() == sum(len(v) for v in after.values())


def test_ingest_documents_sources_and_pruning() -> None:
    rag = memory_rag()
    docs = [
        Document(page_content="first text here", metadata={}),
        Document(page_content="second text here", metadata={"file_path": "/x/b.txt"}),
    ]
    report = rag.ingest_documents(docs)
    sources = set(rag.store.sources())
    assert report.files_new == 2 and "/x/b.txt" in sources
    [stable] = sources - {"/x/b.txt"}
    assert stable.startswith("document:")
    assert rag.ingest_documents(docs).files_unchanged == 2  # the id from the text is stable

    # source= makes every document one source; dropping a document prunes its chunks
    r2 = memory_rag()
    r2.ingest_documents(docs, source="kb")
    assert r2.store.count() == 2 and set(r2.store.sources()) == {"kb"}
    pruned = r2.ingest_documents(docs[:1], source="kb")
    assert (pruned.files_changed, pruned.chunks_deleted, pruned.chunks_embedded) == (1, 1, 0)
    assert r2.store.count() == 1

    # a metadata-only change re-writes the chunk with the new metadata
    r3 = memory_rag()
    r3.ingest_documents([Document(page_content="same text", metadata={"v": 1})], source="m")
    r3.ingest_documents([Document(page_content="same text", metadata={"v": 2})], source="m")
    assert [d.metadata for d in RagRetriever(rag=r3).invoke("same")] == [{"v": 2}]

    # identical text on two pages of one source: two chunks, not one id twice
    r4 = memory_rag()
    page = Document(page_content="This page is intentionally left blank.", metadata={})
    assert r4.ingest_documents([page, page], source="p").chunks_written == 2


def test_from_langchain_records_usage_and_cost() -> None:
    reply = AIMessage(
        content="Set store = 'pgvector' [1].",
        usage_metadata={
            "input_tokens": 1000,
            "output_tokens": 100,
            "total_tokens": 1100,
            "input_token_details": {"cache_read": 200},
        },
        response_metadata={"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
    )
    chat = GenericFakeChatModel(messages=iter([reply]))
    llm = from_langchain(chat, backend="openai", model="gpt-4o-mini")
    rag = RAG(
        load_settings(store="memory", answer_mode="generative"),
        embedder=FakeEmbedder(),
        llm=llm,
    )
    rag.ingest_documents([Document(page_content="Set store to pgvector.", metadata={})])
    answer = rag.ask("how do I switch to pgvector?")
    assert answer.text.startswith("Set store = 'pgvector'")
    u = answer.usage
    assert (u.backend, u.model) == ("openai", "gpt-4o-mini-2024-07-18")
    assert (u.input_tokens, u.output_tokens, u.cached_input_tokens) == (1000, 100, 200)
    # gpt-4o-mini: 0.15 in, 0.075 cached in, 0.60 out per million tokens
    assert u.cost == (800 * Decimal("0.15") + 200 * Decimal("0.075") + 100 * Decimal("0.60")) / (
        10**6
    )
    [logged] = rag.call_log.calls()
    assert (logged.input_tokens, logged.output_tokens, logged.cost) == (1000, 100, u.cost)


def test_from_langchain_streams_and_awaits() -> None:
    llm = from_langchain(FakeListChatModel(responses=["one two", "three"]), model="fake")
    assert (llm.backend, llm.model) == ("fake-list-chat-model", "fake")
    from rag.llms.base import AsyncLLM, Message

    assert isinstance(llm, AsyncLLM)
    messages = [Message(role="user", content="hi")]
    with pytest.warns(UserWarning, match="no price"):
        events = list(llm.stream(messages))
    final = events[-1].completion
    assert final is not None and final.text == "one two"
    assert "".join(e.text for e in events[:-1]) == "one two"
    assert final.usage.output_tokens > 0 and final.usage.cost is None  # estimated, unpriced

    async def main() -> str:
        return (await llm.acomplete(messages)).text

    assert asyncio.run(main()) == "three"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_import_rag_and_help_import_no_framework() -> None:
    out = _python(
        "import sys\n"
        "import rag, rag.integrations\n"
        "from typer.testing import CliRunner\n"
        "from rag.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print([m for m in ('langchain_core', 'langchain', 'llama_index') if m in sys.modules])\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_missing_extra_names_it() -> None:
    out = _python(
        "import sys\n"
        "sys.modules['langchain_core'] = None\n"
        "from rag.errors import MissingDependencyError\n"
        "try:\n"
        "    import rag.integrations.langchain\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'rag[langchain]'" in out.stdout


def test_readme_langchain_snippet_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's "LangChain" example, run as written (its RAG() and RagEmbeddings() over
    a memory store and the fake embedder: the real defaults are tested elsewhere)."""
    import rag as rag_module
    import rag.integrations.langchain as lc

    readme = (REPO / "README.md").read_text()
    section = readme.split("### LangChain", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    shared = memory_rag()
    monkeypatch.setattr(rag_module, "RAG", lambda **kw: shared)
    original = lc.RagEmbeddings
    monkeypatch.setattr(lc, "RagEmbeddings", lambda **kw: original(rag=shared))
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["answer"].startswith("Set")
