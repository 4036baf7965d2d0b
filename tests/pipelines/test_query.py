"""Query pipeline with fakes: retrieval, dedup, packing under budget, citations, call log."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rag.api import RAG
from rag.chunking import TokenChunker
from rag.costs.calllog import CallLog
from rag.errors import CollectionNotFoundError, ConfigError
from rag.pipelines.prompt import SentenceSelector
from rag.pipelines.query import PreparedPrompt, QueryPipeline, cited_numbers, near_duplicate
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM, echo_question
from rag.types import Answer, Retrieval


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "stores.md").write_text(
        "# Stores\n\nChroma is embedded by default.\n\n## pgvector\n\n"
        "Switch to pgvector with rag ingest --store pgvector and a PostgreSQL DSN.\n"
    )
    (root / "costs.md").write_text(
        "# Costs\n\nEvery call is logged with tokens and cost in calls.db.\n"
    )
    (root / "copy.md").write_text(
        "# Costs\n\nEvery call is logged with tokens and cost in calls.db.\n"
    )
    return root


def make_rag(tmp_path: Path, llm: ScriptedLLM, **overrides: object) -> RAG:
    embedder = FakeEmbedder()
    return RAG(
        store=MemoryStore("docs"),
        embedder=embedder,
        llm=llm,
        chunker=TokenChunker(embedder.tokenizer, 60, 10),
        data_dir=tmp_path / "data",
        **overrides,  # type: ignore[arg-type]
    )


def test_ask_numbers_sources_and_maps_markers_back(tmp_path: Path, docs: Path) -> None:
    llm = ScriptedLLM(["Use --store pgvector [1]."])
    r = make_rag(tmp_path, llm)
    r.ingest(docs)
    answer = r.ask("How do I switch to pgvector?")
    assert isinstance(answer, Answer)
    assert answer.citations[0].number == 1
    assert answer.citations[0].source.endswith("stores.md")
    assert answer.citations[0].location.heading_path == ("Stores", "pgvector")
    assert answer.citations[0].cited and not any(c.cited for c in answer.citations[1:])
    assert [c.number for c in answer.cited] == [1]
    sent = llm.prompts[0][1].content
    assert "[1] " in sent and "Question: How do I switch to pgvector?" in sent
    assert answer.prompt.endswith("Answer:") and "Switch to pgvector" in answer.prompt
    assert answer.usage.backend == "fake" and answer.usage.input_tokens > 0


def test_near_duplicate_chunks_are_sent_once(tmp_path: Path, docs: Path) -> None:
    llm = ScriptedLLM(["Logged [1]."])
    r = make_rag(tmp_path, llm)
    r.ingest(docs)
    answer = r.ask("Where are call costs logged?")
    texts = [c.text for c in answer.citations]
    assert sum("calls.db" in t for t in texts) == 1


def test_prompt_stays_under_the_context_budget(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(12):
        (root / f"d{i}.txt").write_text(
            f"Document {i} explains topic. "
            + " ".join(f"w{i}x{j}" for j in range(30))
            + ". Nothing else follows here."
        )
    llm = ScriptedLLM(["ok"])
    r = make_rag(tmp_path, llm, top_k=10, max_context_tokens=120)
    r.ingest(root)
    pipeline = QueryPipeline(r.store, r.embedder, llm, top_k=10, max_context_tokens=120)
    prepared = pipeline.prepare("topic", pipeline.retriever.retrieve("topic"))
    assert prepared.context_tokens <= 120
    assert prepared.dropped and "budget" in prepared.dropped[0][1]
    assert len(prepared.citations) < 10
    extractive = QueryPipeline(
        r.store,
        r.embedder,
        llm,
        top_k=10,
        max_context_tokens=120,
        answer_mode="extractive",
        selector=SentenceSelector(),
    )
    whole = extractive.prepare("topic", extractive.retriever.retrieve("topic"))
    # no prompt is sent: the extractive answer reads every hit whole, and says so
    assert len(whole.citations) == 10 and not whole.dropped
    assert whole.context_tokens > 120
    assert whole.text.count("Nothing else follows here.") == 10, "no sentence selection"
    selected = QueryPipeline(
        r.store, r.embedder, llm, top_k=10, max_context_tokens=120, selector=SentenceSelector()
    ).prepare("topic", pipeline.retriever.retrieve("topic"))
    assert "Nothing else follows here." not in selected.text
    assert any("max_context_tokens=120 does not apply" in n for n in whole.notes)


def test_a_budget_smaller_than_one_chunk_truncates_the_best_one(tmp_path: Path, docs: Path) -> None:
    llm = ScriptedLLM(["ok"])
    r = make_rag(tmp_path, llm, max_context_tokens=32)
    r.ingest(docs)
    pipeline = QueryPipeline(r.store, r.embedder, llm, max_context_tokens=32)
    prepared = pipeline.prepare("pgvector", pipeline.retriever.retrieve("pgvector"))
    assert len(prepared.citations) == 1 and prepared.context_tokens <= 32


def test_every_call_is_logged_with_usage(tmp_path: Path, docs: Path) -> None:
    llm = ScriptedLLM(["answer [2]"], cost_per_call=Decimal("0.0015"))
    r = make_rag(tmp_path, llm)
    r.ingest(docs)
    r.ask("costs?")
    records = CallLog(tmp_path / "data" / "calls.db").calls()
    assert len(records) == 1
    rec = records[0]
    assert (rec.backend, rec.model, rec.collection, rec.question) == (
        "fake",
        "scripted",
        "docs",
        "costs?",
    )
    assert rec.cost == Decimal("0.0015") and rec.input_tokens > 0


def test_stream_yields_text_then_answer(tmp_path: Path, docs: Path) -> None:
    r = make_rag(tmp_path, ScriptedLLM(["Use pgvector [1]."]))
    r.ingest(docs)
    parts = list(r.ask_stream("pgvector?"))
    assert "".join(p for p in parts if isinstance(p, str)) == "Use pgvector [1]."
    final = parts[-1]
    assert isinstance(final, Answer) and final.citations[0].cited
    assert final.usage.time_to_first_token_s is not None


def test_ask_on_empty_collection_is_a_clear_error(tmp_path: Path) -> None:
    r = make_rag(tmp_path, ScriptedLLM())
    with pytest.raises(CollectionNotFoundError, match="rag ingest"):
        r.ask("anything?")


def test_filters_restrict_sources_and_bad_fields_are_rejected(tmp_path: Path, docs: Path) -> None:
    r = make_rag(tmp_path, ScriptedLLM(["x"]))
    r.ingest(docs)
    source = str((docs / "costs.md").absolute())
    hits = r.retrieve("pgvector", filters={"source": source})
    assert hits and all(h.chunk.source == source for h in hits)
    with pytest.raises(ConfigError, match="not a valid name"):
        r.retrieve("x", filters={"a'; drop table x; --": 1})


def test_prepare_is_exactly_what_ask_sends_without_generating(tmp_path: Path, docs: Path) -> None:
    llm = ScriptedLLM(["Use --store pgvector [1]."])
    r = make_rag(tmp_path, llm)
    r.ingest(docs)
    question = "How do I switch to pgvector?"
    hits = r.retrieve(question)
    assert isinstance(hits, Retrieval) and hits.question == question and hits.mode == "hybrid"
    assert [rank.chunk_id for rank in hits.ranks] == [h.chunk.id for h in hits]
    assert hits[:1] == [hits[0]] and hits.top(1).hits == (hits[0],) and len(hits.top(1)) == 1
    prepared = r.prepare(question)
    assert llm.prompts == [], "prepare never generates"
    assert prepared.question == question and prepared.context_tokens > 0
    assert prepared.notes[0].startswith("[1] retrieved: dense #")
    answer = r.ask(question)
    assert prepared.text == answer.prompt and list(prepared.notes) == answer.prompt_notes
    assert list(prepared.messages) == llm.prompts[0]
    assert [c.chunk_id for c in prepared.citations] == [c.chunk_id for c in answer.citations]
    # packing a retrieval already made (what `rag eval` does): same prompt, no new retrieval
    assert r.prepare(question, retrieval=hits).text == prepared.text
    assert r.retriever is r.retriever and r.query_pipeline.retriever is r.retriever


def count_packing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The questions ``QueryPipeline.prepare`` packs a prompt for from now on (the real
    method, called through)."""
    packed: list[str] = []
    real = QueryPipeline.prepare

    def prepare(self: QueryPipeline, question: str, hits: Any, **kw: Any) -> PreparedPrompt:
        packed.append(question)
        return real(self, question, hits, **kw)

    monkeypatch.setattr(QueryPipeline, "prepare", prepare)
    return packed


def same_answer(got: Answer, want: Answer) -> None:
    """Equal answers, but for the timings."""
    skip = {"usage", "retrieval_latency_s"}
    assert got.model_dump(exclude=skip) == want.model_dump(exclude=skip)
    assert got.usage.model_dump(exclude={"latency_s", "time_to_first_token_s"}) == (
        want.usage.model_dump(exclude={"latency_s", "time_to_first_token_s"})
    )


@pytest.mark.parametrize("mode", ["generative", "extractive"])
def test_a_prepared_prompt_is_sent_as_it_is(
    tmp_path: Path, docs: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ask and ask_stream given ``prepare``'s prompt answer as without it, and neither
    retrieve nor pack again: the prompt sent is the one given, its retrieval time reported."""
    llm = ScriptedLLM(reply=echo_question)
    r = make_rag(tmp_path, llm, answer_mode=mode)
    r.ingest(docs)
    question = "How do I switch to pgvector?"
    expected = r.ask(question)
    expected_deltas = list(r.ask_stream(question))[:-1]
    prepared = r.prepare(question)
    assert prepared.retrieval_seconds > 0
    packed = count_packing(monkeypatch)
    answer = r.ask(question, prepared=prepared)
    same_answer(answer, expected)
    assert answer.retrieval_latency_s == prepared.retrieval_seconds
    pieces = list(r.ask_stream(question, prepared=prepared))
    final = pieces[-1]
    assert isinstance(final, Answer)
    same_answer(final, expected)
    assert pieces[:-1] == expected_deltas
    assert final.retrieval_latency_s == prepared.retrieval_seconds
    assert packed == [], "a prepared prompt is not packed again"
    if mode == "generative":
        assert llm.prompts[-2:] == [list(prepared.messages)] * 2
    # the prompt wins over a retrieval given with it (of another question, here)
    other = r.retrieve("Where are calls logged?")
    assert r.ask(question, retrieval=other, prepared=prepared).prompt == prepared.text
    assert packed == []


def test_a_prepared_prompt_for_another_question_is_refused(tmp_path: Path, docs: Path) -> None:
    llm = ScriptedLLM()
    r = make_rag(tmp_path, llm, answer_mode="generative")
    r.ingest(docs)
    prepared = r.prepare("How do I switch to pgvector?")
    both = r"'How do I switch to pgvector\?'.*'Where are calls logged\?'"
    with pytest.raises(ValueError, match=both):
        r.ask("Where are calls logged?", prepared=prepared)
    with pytest.raises(ValueError, match=both):
        next(r.ask_stream("Where are calls logged?", prepared=prepared))
    assert llm.prompts == [], "nothing is generated for a mismatched prompt"
    # the question is compared cleaned, as ask cleans it
    assert r.ask("How do I switch to pgvector?\x00", prepared=prepared).prompt == prepared.text


def test_a_given_retrieval_reports_its_seconds(tmp_path: Path, docs: Path) -> None:
    """retrieve times itself, and ask(retrieval=...) reports that time as the answer's."""
    r = make_rag(tmp_path, ScriptedLLM(reply=echo_question), answer_mode="generative")
    r.ingest(docs)
    question = "How do I switch to pgvector?"
    found = r.retrieve(question)
    assert found.seconds > 0 and found.top(1).seconds == found.seconds
    assert r.query_pipeline.retrieve(question).seconds > 0
    assert r.ask(question, retrieval=found).retrieval_latency_s == found.seconds
    final = list(r.ask_stream(question, retrieval=found))[-1]
    assert isinstance(final, Answer) and final.retrieval_latency_s == found.seconds
    assert r.prepare(question, retrieval=found).retrieval_seconds == found.seconds
    assert r.ask(question).retrieval_latency_s > 0


def test_marker_parsing_and_duplicate_detection() -> None:
    assert cited_numbers("A [1], B [2, 3] and [4;5] but not [x]") == {1, 2, 3, 4, 5}
    assert near_duplicate("the cat sat on the mat", "The cat sat on the mat today")
    assert not near_duplicate("the cat sat", "a dog ran far away")
