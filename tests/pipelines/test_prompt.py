"""Sentence-level selection keeps what answers and reports what it cut."""

from __future__ import annotations

from rag.pipelines.prompt import SentenceSelector, split_sentences
from rag.pipelines.query import QueryPipeline
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM
from rag.types import Chunk, Location, ScoredChunk

TEXT = (
    "Stores > pgvector\n"
    "PostgreSQL is a relational database. It has many extensions. "
    "Switch to pgvector with rag ingest --store pgvector. "
    "The weather was nice that year. Chess is a board game. "
    "Bananas are yellow. The end."
)


def hit(text: str, n: int = 0) -> ScoredChunk:
    chunk = Chunk(
        id=f"c{n}",
        text=text,
        source=f"/d/{n}.md",
        location=Location(start_line=1),
        content_hash=f"h{n}",
    )
    return ScoredChunk(chunk=chunk, score=1.0)


def test_split_sentences_keeps_lines_and_punctuation() -> None:
    assert split_sentences("Title\nOne. Two!  Three?") == ["Title\n", "One.", " Two!", "  Three?"]


def test_a_full_stop_inside_a_word_or_number_ends_no_sentence() -> None:
    """ "e.g.", "3.5" and "chunk.size" go on; the pieces still join back to the text."""
    text = "Set a key, e.g. chunk.size here. Python 3.5 is old! (Really.) 끝이다。다음"
    parts = split_sentences(text)
    assert parts == [
        "Set a key, e.g. chunk.size here.",
        " Python 3.5 is old!",
        " (Really.)",
        " 끝이다。",
        "다음",
    ]
    assert "".join(parts) == text


def test_selection_keeps_the_answer_heading_and_neighbours_and_marks_cuts() -> None:
    (sel,) = SentenceSelector().select("How do I switch to pgvector?", [TEXT])
    assert "Switch to pgvector with rag ingest --store pgvector." in sel.text
    assert sel.text.startswith("Stores > pgvector")
    assert "Bananas" not in sel.text and "…" in sel.text
    assert sel.kept < sel.total


def test_paraphrase_match_is_kept_whole() -> None:
    (sel,) = SentenceSelector().select("unrelated words only", [TEXT])
    assert sel.text == TEXT and sel.kept == sel.total


def test_prepare_reports_cuts_and_spends_fewer_tokens() -> None:
    llm = ScriptedLLM()
    store, embedder = MemoryStore("d"), FakeEmbedder()
    plain = QueryPipeline(store, embedder, llm).prepare("switch to pgvector?", [hit(TEXT)])
    lean = QueryPipeline(store, embedder, llm, selector=SentenceSelector()).prepare(
        "switch to pgvector?", [hit(TEXT)]
    )
    assert lean.context_tokens < plain.context_tokens
    assert lean.citations[0].text == TEXT  # the citation keeps the whole chunk
    assert lean.notes and "kept" in lean.notes[0] and "tokens saved" in lean.notes[0]
    assert "--store pgvector" in lean.messages[1].content
