from __future__ import annotations

import pytest

from rag.chunking import SPAN_KEY, TokenChunker, chunk_id, chunk_span, detect_lang
from rag.testing import WhitespaceTokenizer
from rag.types import Document, Location


def make(text: str, **loc: object) -> Document:
    """A document whose text is the file's lines verbatim from ``start_line`` on."""
    if "start_line" in loc:
        loc["end_line"] = int(loc["start_line"]) + text.count("\n")  # type: ignore[call-overload]
    return Document(source="/docs/a.md", text=text, location=Location(**loc))  # type: ignore[arg-type]


def test_short_document_is_one_chunk_with_line_range() -> None:
    doc = make("Title line.\nSecond line here.", start_line=5)
    (chunk,) = TokenChunker(WhitespaceTokenizer(), 50, 5).chunk([doc])
    assert chunk.text == "Title line.\nSecond line here."
    assert (chunk.location.start_line, chunk.location.end_line) == (5, 6)
    assert chunk.source == "/docs/a.md"
    assert chunk.metadata["lang"] == "en"


def test_chunks_respect_budget_and_cover_all_sentences() -> None:
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(60)]
    doc = make(" ".join(sentences), start_line=1)
    tok = WhitespaceTokenizer()
    chunks = TokenChunker(tok, 40, 8).chunk([doc])
    assert len(chunks) > 5
    assert all(tok.count([c.text])[0] <= 40 for c in chunks)
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences), "no sentence may be lost"
    # overlap: consecutive chunks share a whole sentence
    assert any(chunks[i].text.split(". ")[-1] in chunks[i + 1].text for i in range(len(chunks) - 1))


def test_each_chunk_records_where_it_sits_in_its_document() -> None:
    """``SPAN_KEY`` holds the chunk's characters in the document (the heading prefix aside),
    so the answerer can put a document's chunks back in order; a chunk without it, or with a
    value it cannot read, has no span."""
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(30)]
    doc = make(" ".join(sentences), start_line=1)
    chunks = TokenChunker(WhitespaceTokenizer(), 40, 8).chunk([doc])
    spans = [chunk_span(c) for c in chunks]
    assert all(s is not None for s in spans) and len(chunks) > 2
    for chunk, (start, end) in zip(chunks, spans, strict=True):  # type: ignore[misc]
        assert doc.text[start:end].strip() == chunk.text
    assert [s[0] for s in spans] == sorted(s[0] for s in spans)  # type: ignore[index]
    bare = chunks[0].model_copy(update={"metadata": {"lang": "en"}})
    odd = chunks[0].model_copy(update={"metadata": {SPAN_KEY: "3-9"}})
    assert chunk_span(bare) is None and chunk_span(odd) is None


def test_paragraph_boundaries_are_preferred() -> None:
    para1 = "Alpha one. " * 12
    para2 = "Beta two. " * 12
    doc = make(f"{para1.strip()}\n\n{para2.strip()}", start_line=1)
    chunks = TokenChunker(WhitespaceTokenizer(), 45, 0).chunk([doc])
    assert chunks[0].text.startswith("Alpha") and "Beta" not in chunks[0].text
    assert chunks[1].text.startswith("Beta")
    assert chunks[1].location.start_line == 3


def test_korean_sentence_endings_split() -> None:
    text = "LoRA는 적은 파라미터로 모델을 미세조정합니다. 이 방법은 메모리를 아낍니다. 그래서 널리 쓰인다."
    chunks = TokenChunker(WhitespaceTokenizer(), 10, 0).chunk([make(text, start_line=1)])
    assert [c.text for c in chunks] == [
        "LoRA는 적은 파라미터로 모델을 미세조정합니다.",
        "이 방법은 메모리를 아낍니다. 그래서 널리 쓰인다.",
    ]
    assert chunks[0].metadata["lang"] == "ko"
    assert detect_lang(text) == "ko"


def test_a_closing_quote_or_bracket_stays_with_its_sentence() -> None:
    """A chunk that ends with ``(see Backups.)`` or ``"stop."`` keeps the bracket or quote;
    it fell between two chunks and was in neither."""
    text = 'Keep a copy (see Backups.) Then stop the server. He said "stop now." It stopped.'
    chunks = TokenChunker(WhitespaceTokenizer(), 8, 0).chunk([make(text, start_line=1)])
    assert [c.text for c in chunks] == [
        "Keep a copy (see Backups.)",
        "Then stop the server.",
        'He said "stop now."',
        "It stopped.",
    ]


def test_a_full_chunk_ends_where_a_sentence_does_not_at_a_wrapped_line() -> None:
    """Hard-wrapped prose (a sentence over two lines): a chunk that fills up ends after the
    last sentence it holds, and the line it would have cut off opens the next chunk (the
    answerer quoted half a sentence of ``examples/korean.md``, cut at a line break)."""
    sentences = [
        f"Sentence {i} starts on one line and goes on\nover the next line to its end."
        for i in range(12)
    ]
    doc = make(" ".join(sentences), start_line=1)
    for overlap in (0, 8):
        chunks = TokenChunker(WhitespaceTokenizer(), 40, overlap).chunk([doc])
        assert len(chunks) > 3
        assert all(c.text.endswith("to its end.") for c in chunks), [c.text for c in chunks]
        joined = "\n".join(c.text for c in chunks)
        assert all(s in joined for s in sentences), "no sentence may be lost"
    # a line that cannot be carried (no sentence ends in the chunk's second half) is cut
    wrapped = make("word " * 30 + "\n" + "word " * 30 + "\n" + "word " * 30, start_line=1)
    assert len(TokenChunker(WhitespaceTokenizer(), 40, 0).chunk([wrapped])) == 3


def test_overlong_sentence_is_cut_at_token_boundaries() -> None:
    words = " ".join(f"w{i}" for i in range(300))
    chunks = TokenChunker(WhitespaceTokenizer(), 50, 10).chunk([make(words, start_line=1)])
    tok = WhitespaceTokenizer()
    assert all(tok.count([c.text])[0] <= 50 for c in chunks)
    assert chunks[0].text.startswith("w0 ") and chunks[-1].text.endswith("w299")


def test_heading_path_is_prefixed_and_kept_in_location() -> None:
    doc = make("Use --store pgvector.", start_line=10, heading_path=("Stores", "pgvector"))
    (chunk,) = TokenChunker(WhitespaceTokenizer(), 50, 5).chunk([doc])
    assert chunk.text == "Stores > pgvector\nUse --store pgvector."
    assert chunk.location.heading_path == ("Stores", "pgvector")


def test_ids_are_deterministic_and_distinct_for_repeated_text() -> None:
    doc = make("Same.\n\nSame.", start_line=1)
    chunker = TokenChunker(WhitespaceTokenizer(), 2, 0)
    first = chunker.chunk([doc])
    again = chunker.chunk([doc])
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == 2
    assert first[0].content_hash == first[1].content_hash
    assert chunk_id("a", None, "t", 0) != chunk_id("b", None, "t", 0)


def test_derived_text_keeps_the_loader_location() -> None:
    doc = Document(
        source="/c.csv",
        text="name: a\nsize: 3",
        location=Location(record="4", start_line=5, end_line=5),
    )
    (chunk,) = TokenChunker(WhitespaceTokenizer(), 10, 0).chunk([doc])
    assert chunk.location == doc.location


def test_empty_documents_yield_nothing() -> None:
    assert TokenChunker(WhitespaceTokenizer(), 10, 0).chunk([make("  \n ")]) == []


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ValueError, match="overlap"):
        TokenChunker(WhitespaceTokenizer(), 10, 10)


@pytest.mark.slow
def test_real_tokenizer_keeps_every_chunk_inside_the_model_window(st_embedder) -> None:  # type: ignore[no-untyped-def]
    text = ("Retrieval augmented generation combines search with language models. " * 80).strip()
    chunker = TokenChunker(st_embedder.tokenizer, st_embedder.max_tokens, 32)
    chunks = chunker.chunk([make(text, start_line=1)])
    counts = st_embedder.tokenizer.count([c.text for c in chunks])
    assert len(chunks) > 1 and max(counts) <= st_embedder.max_tokens


class _CountingTokenizer(WhitespaceTokenizer):
    """Records the characters each ``count`` call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.counted: list[int] = []

    def count(self, texts):  # type: ignore[no-untyped-def]
        self.counted.append(sum(len(t) for t in texts))
        return super().count(texts)


def test_iter_chunks_equals_chunk_and_streams_a_huge_document() -> None:
    """``iter_chunks`` gives exactly ``chunk``'s chunks (ids, text, lines) over mixed
    documents, and a huge one-line document's first chunk comes after counting about one
    batch, not the whole text (issue #12: memory bounded whatever a line's length). If it
    fails, check ``TokenChunker._counted``/``_pack`` still yield as they go."""
    from rag.chunking import COUNT_BATCH_CHARS

    docs = [
        make("First para. Second sentence here.\n\nAnother para.", start_line=1),
        make("   "),
        make("repeat " * 40, start_line=1),
        make("다시 말합니다. 한국어 문장입니다.\n" * 30, start_line=1),
    ]
    chunker = TokenChunker(WhitespaceTokenizer(), 12, 3)
    assert list(chunker.iter_chunks(docs)) == chunker.chunk(docs)
    assert len({c.id for c in chunker.chunk(docs)}) == len(chunker.chunk(docs))

    huge = make("marmot vole " * 400_000)  # 4.8 MB, one line, no sentence end
    tok = _CountingTokenizer()
    stream = TokenChunker(tok, 200, 32).iter_chunks([huge])
    first = next(stream)
    assert first.text.startswith("marmot vole")
    assert sum(tok.counted) <= 2 * COUNT_BATCH_CHARS < len(huge.text) / 4
    rest = sum(1 for _ in stream)
    assert rest > 1000 and sum(tok.counted) >= len(huge.text) - 400_000
