"""Follow-up questions (``history``): a follow-up alone retrieves the wrong source and with the
conversation the right one (memory store, the real keyword index and tokenizer, the fake
embedder); the history a generative prompt carries is bounded and keeps the latest turns;
bad roles are refused; an extractive answer uses the history for retrieval only; and a stream
given a retrieval does not retrieve again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rag import RAG
from rag.chunking import TokenChunker
from rag.errors import ConfigError
from rag.llms.base import Message
from rag.pipelines.conversation import check_history, follow_up, history_slice
from rag.pipelines.query import QueryPipeline, Retrieves
from rag.stores.base import Filters
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM
from rag.types import Answer, Retrieval

DOCS = {
    "widget.md": "# Widget\n\nTo install the widget, run the widget installer from the "
    "install folder. Installing the widget takes ten minutes.\n",
    "gadget.md": "# Gadget backups\n\nA gadget backup takes long: how long it takes depends "
    "on the disk, and a long backup can take hours.\n",
    "garden.md": "# Garden\n\nWater the tomatoes every morning and pick them when red.\n",
    "kitchen.md": "# Kitchen\n\nClean the oven once a month with baking soda.\n",
}
Q1 = "How do I install the widget?"
A1 = "Run the widget installer from the install folder [1]."
FOLLOW_UP = "and how long does that take?"
HISTORY = [("user", Q1), ("assistant", A1)]


def make_rag(tmp_path: Path, **settings: Any) -> RAG:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    embedder = FakeEmbedder()
    r = RAG(
        store=MemoryStore("conv"),
        embedder=embedder,
        llm=settings.pop("llm", None) or ScriptedLLM(["Ten minutes [1]."]),
        chunker=TokenChunker(embedder.tokenizer, 60, 10),
        data_dir=tmp_path / "data",
        check_answers=False,
        **{"top_k": 1, "answer_mode": "extractive", **settings},
    )
    r.ingest(docs)
    return r


def source_of(hits: Retrieval | Answer) -> str:
    first = hits.citations[0].source if isinstance(hits, Answer) else hits[0].chunk.source
    return Path(first).name


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "dense"])
def test_follow_up_needs_the_history_to_find_its_source(tmp_path: Path, mode: str) -> None:
    with make_rag(tmp_path, retrieval_mode=mode) as r:
        assert source_of(r.retrieve(Q1)) == "widget.md"
        assert source_of(r.retrieve(FOLLOW_UP)) == "gadget.md", "alone: the wrong source"
        found = r.retrieve(FOLLOW_UP, history=HISTORY)
        assert source_of(found) == "widget.md"
        assert found.question == FOLLOW_UP
        if mode != "dense":  # the previous question's key terms, stemmed, not the question's
            assert set(found.context_terms) == {"instal", "widget"}
        answer = r.ask(FOLLOW_UP, history=HISTORY)
        assert source_of(answer) == "widget.md"
        assert any(n.startswith("follow-up retrieval:") for n in answer.prompt_notes)


def test_follow_up_rule_adds_only_terms_the_question_lacks() -> None:
    from rag.keywords import KeywordTokenizer

    terms = KeywordTokenizer().tokenize_batch
    turns = check_history([Message(role="user", content=Q1), ("assistant", A1)])
    follow = follow_up("how long does the widget install take?", turns, terms)
    assert follow is not None and follow.context_terms == ()
    follow = follow_up(FOLLOW_UP, turns, terms)
    assert follow is not None and follow.context_terms == ("instal", "widget")
    assert follow.dense_query == f"{Q1} {FOLLOW_UP}" and follow.previous == Q1
    assert follow_up(FOLLOW_UP, check_history([("assistant", A1)]), terms) is None


def test_generative_prompt_keeps_the_latest_turns_under_the_budget(tmp_path: Path) -> None:
    llm = ScriptedLLM(["Ten minutes [1]."])
    turns = [
        ("user" if i % 2 == 0 else "assistant", f"turn{i} " + " ".join(["word"] * 9))
        for i in range(6)
    ]  # 10 tokens each
    with make_rag(tmp_path, llm=llm, answer_mode="generative", history_tokens=25) as r:
        answer = r.ask(FOLLOW_UP, history=[*turns[:-2], *HISTORY])
        sent = llm.prompts[-1]
        assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
        assert [m.content for m in sent[1:3]] == [Q1, A1], "the most recent turns, in order"
        assert sent[-1].content.startswith("Sources:") and FOLLOW_UP in sent[-1].content
        assert "history: kept the last 2 of 6 turns" in "\n".join(answer.prompt_notes)
        assert "4 earlier cut" in "\n".join(answer.prompt_notes)
        assert source_of(answer) == "widget.md"
        # the prompt shown is the prompt sent, history included
        assert f"<assistant>\n{A1}" in answer.prompt

    with make_rag(tmp_path, llm=llm, answer_mode="generative", history_tokens=0) as r:
        r.ask(FOLLOW_UP, history=HISTORY)
        assert [m.role for m in llm.prompts[-1]] == ["system", "user"]


def test_history_slice_rules() -> None:
    count = len  # one token per character, to make the arithmetic plain
    history = check_history([("user", "aaaa"), ("assistant", "bbbb"), ("user", "cc")])
    assert [m.content for m in history_slice(history, 10, count).turns] == ["aaaa", "bbbb", "cc"]
    # never starts with an assistant turn whose question was cut
    over = history_slice(history, 6, count)
    assert [m.content for m in over.turns] == ["cc"] and over.cut == 2 and over.tokens == 2
    history = check_history(
        [("user", "aaaa"), ("assistant", "bb"), ("user", "c"), ("assistant", "dd")]
    )
    cut = history_slice(history, 5, count)
    assert [m.content for m in cut.turns] == ["c", "dd"] and (cut.kept, cut.cut) == (2, 2)
    assert (
        cut.note(5)
        == "history: kept the last 2 of 4 turns (3 tokens, history_tokens = 5); 2 earlier cut: over the budget"
    )
    only_answer = history_slice(check_history([("user", "aaaa"), ("assistant", "bb")]), 3, count)
    assert only_answer.turns == () and only_answer.cut == 2 and only_answer.tokens == 0
    # consecutive turns of one role become one message (templates want them to alternate)
    merged = history_slice(check_history([("user", "a"), ("user", "b")]), 100, count)
    assert [(m.role, m.content) for m in merged.turns] == [("user", "a\n\nb")]
    assert merged.kept == 2 and merged.cut == 0


@pytest.mark.parametrize(
    "bad",
    [
        [("system", "be brief")],
        [("tool", "{}")],
        [("user", "a", "b")],
        ["just text"],
        [("user", 3)],
    ],
)
def test_invalid_history_is_refused(tmp_path: Path, bad: list[Any]) -> None:
    with make_rag(tmp_path) as r:
        for call in (r.ask, r.retrieve, r.prepare):
            with pytest.raises(ConfigError, match=r"history\[0\]"):
                call(FOLLOW_UP, history=bad)
        with pytest.raises(ConfigError, match=r"history\[0\]"):
            list(r.ask_stream(FOLLOW_UP, history=bad))


def test_extractive_answer_uses_history_for_retrieval_only(tmp_path: Path) -> None:
    llm = ScriptedLLM()
    with make_rag(tmp_path, llm=llm, answer_mode="extractive") as r:
        with_history = r.ask(FOLLOW_UP, history=HISTORY)
        assert with_history.mode == "extractive" and llm.prompts == []
        assert source_of(with_history) == "widget.md"
        assert "used for retrieval only" in "\n".join(with_history.prompt_notes)
        assert Q1 not in with_history.prompt and A1 not in with_history.prompt
        # the same sources without history give the same answer: the history only retrieved
        found = r.retrieve(FOLLOW_UP, history=HISTORY)
        plain = r.ask(FOLLOW_UP, retrieval=found)
        assert plain.text == with_history.text


class CountingRetriever:
    """Counts retrieve calls of the retriever it wraps."""

    def __init__(self, inner: Retrieves) -> None:
        self.inner = inner
        self.calls = 0

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval:
        self.calls += 1
        return self.inner.retrieve(
            question, k=k, filters=filters, context_terms=context_terms, dense_query=dense_query
        )


@pytest.mark.parametrize("mode", ["generative", "extractive"])
def test_stream_given_a_retrieval_does_not_retrieve_again(tmp_path: Path, mode: str) -> None:
    with make_rag(tmp_path, answer_mode=mode) as r:
        counting = CountingRetriever(r.retriever)
        pipeline = QueryPipeline(
            r.store,
            r.embedder,
            ScriptedLLM(["Ten minutes [1]."]),
            retriever=counting,
            answer_mode=mode,
            terms=r.keyword_tokenizer.tokenize_batch,
        )
        found = pipeline.retrieve(FOLLOW_UP, history=HISTORY)
        assert counting.calls == 1
        shown = pipeline.prepare(FOLLOW_UP, found, history=HISTORY)
        pieces = list(pipeline.ask_stream(FOLLOW_UP, history=HISTORY, retrieval=found))
        assert counting.calls == 1, "the stream packed the given hits"
        streamed = pieces[-1]
        assert isinstance(streamed, Answer)
        assert [c.chunk_id for c in streamed.citations] == [c.chunk_id for c in shown.citations]
        whole = pipeline.ask(FOLLOW_UP, history=HISTORY)
        assert counting.calls == 2
        skip = {"usage", "retrieval_latency_s"}
        assert streamed.model_dump(exclude=skip) == whole.model_dump(exclude=skip)
        assert "".join(str(p) for p in pieces[:-1]) == whole.text
