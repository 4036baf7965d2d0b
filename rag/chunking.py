"""Token-aware chunking that keeps citations exact.

Contract of a Chunker: ``chunk(documents)`` returns Chunks whose text fits the
embedder's window (counted with the embedder's own tokenizer), whose ``location``
says where in the source file the text sits (line range, page, heading path,
record), and whose ``id`` is deterministic (same source, record and text give the
same id) so re-ingesting never duplicates.

``TokenChunker`` splits at paragraphs, then sentences (Latin ``.!?``, CJK ``。！？``
and Korean sentence endings such as ``다.``/``요.``), then lines, and packs those
pieces greedily up to ``chunk_tokens`` with about ``overlap`` tokens of whole
sentences carried into the next chunk. A full chunk ends where a sentence does, not at a
line that wraps one (hard-wrapped Markdown), when that keeps at least half of it: the lines
of the cut sentence open the next chunk. A single piece longer than the window is
cut at token boundaries. Pieces are tokenized in calls of about ``COUNT_BATCH_CHARS``
characters. ``iter_chunks`` yields the same chunks as they are made (ingest uses it, so a
huge document's chunks never all exist at once); ``chunk`` is its list.

Memory stays bounded whatever a line's length: a piece longer than ``PIECE_CHARS`` (a
megabyte-long line without a sentence end, say) is first cut into windows of at most that
many characters, at the last whitespace of the window where there is one, so the tokenizer
never sees (nor returns offsets for) more than one window at a time.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rag.embeddings import Tokenizer
from rag.types import Chunk, Document, lines_are_verbatim

_PARAGRAPH = re.compile(r"\n[ \t]*\n+")
# a sentence ends at . ! ? (and CJK forms) followed by optional closing quotes/brackets and
# whitespace, or at a line break; Korean endings (다. 요.) are covered by the '.' rule.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])([\"'”’)\]]*)\s+|\n")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_NEWLINE = re.compile("\n")
_NONSPACE = re.compile(r"\S")

PIECE_CHARS = 1 << 15
"""Longest piece handed to the tokenizer, in characters; longer ones are cut into windows."""
COUNT_BATCH_CHARS = 1 << 18
"""Characters of pieces counted per tokenizer call (bounds the tokenizer's transient memory)."""


@runtime_checkable
class Chunker(Protocol):
    """Splits documents into embeddable chunks. See the module docstring for the contract."""

    def chunk(self, documents: Sequence[Document]) -> list[Chunk]:
        """Chunks of all ``documents``, in document order."""
        ...


@dataclass
class _Piece:
    start: int
    end: int
    paragraph_start: bool
    tokens: int = 0


_STOP_END = re.compile(r"[.!?。！？…][\"'”’)\]]*\s*$")


def _clean_cut(text: str, current: list[_Piece], size: int, next_tokens: int, budget: int) -> int:
    """Where to end a full chunk: after its last piece, unless that piece is a line that
    breaks a sentence (hard-wrapped text); then after the last piece that ends a sentence or
    before one that starts a paragraph, when that keeps at least half the budget in the chunk
    and the carried lines fit in the next one."""
    last = current[-1]
    if _STOP_END.search(text, last.start, last.end):
        return len(current)
    kept = size
    for j in range(len(current) - 1, 0, -1):
        kept -= current[j].tokens
        if kept < budget // 2 or size - kept + next_tokens > budget:
            break
        before = current[j - 1]
        if current[j].paragraph_start or _STOP_END.search(text, before.start, before.end):
            return j
    return len(current)


def _windows(text: str, start: int, end: int, paragraph_start: bool) -> list[_Piece]:
    """The piece ``text[start:end]``, cut into windows of at most ``PIECE_CHARS`` characters
    (at the window's last space or tab when its second half has one)."""
    out: list[_Piece] = []
    while end - start > PIECE_CHARS:
        limit = start + PIECE_CHARS
        half = start + PIECE_CHARS // 2
        cut = max(text.rfind(" ", half, limit), text.rfind("\t", half, limit))
        cut = limit if cut < 0 else cut + 1
        out.append(_Piece(start, cut, paragraph_start))
        paragraph_start = False
        visible = _NONSPACE.search(text, cut, end)
        if visible is None:
            return out
        start = visible.start()
    if start < end:
        out.append(_Piece(start, end, paragraph_start))
    return out


_Counted = tuple[int, Document, _Piece]
"""A piece with the index of its document (among the non-empty ones) and the document."""


SPAN_KEY = "_rag_span"
"""Chunk metadata rag writes: where the chunk's text sits in its document, ``"start:end"`` in
characters, so that the answerer can put a document's retrieved chunks back in reading order
and tell which ones touch (``rag.pipelines.extractive_rules.threads``). Absent on chunks
stored before it was written."""


def chunk_span(chunk: Chunk) -> tuple[int, int] | None:
    """The chunk's ``SPAN_KEY`` as (start, end), None when absent or unreadable."""
    raw = chunk.metadata.get(SPAN_KEY)
    start, sep, end = str(raw).partition(":")
    if not sep or not start.isdigit() or not end.isdigit():
        return None
    return int(start), int(end)


def chunk_id(source: str, record: str | None, text: str, occurrence: int) -> str:
    """Deterministic id: identical text at another place in the same record gets another id."""
    key = f"{source}\x00{record or ''}\x00{occurrence}\x00{text}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def detect_lang(text: str) -> str:
    """'ko' when Hangul makes up a noticeable share of the letters, else 'en'."""
    sample = text[:2000]
    if _HANGUL.search(sample) is None:
        return "en"  # the common case, without counting letters one by one
    hangul = len(_HANGUL.findall(sample))
    letters = sum(1 for ch in sample if ch.isalpha())
    return "ko" if letters and hangul / letters > 0.2 else "en"


class TokenChunker:
    """Paragraph- and sentence-aware packing under a token budget."""

    def __init__(self, tokenizer: Tokenizer, chunk_tokens: int = 200, overlap: int = 32) -> None:
        if overlap >= chunk_tokens:
            raise ValueError(
                f"overlap ({overlap}) must be smaller than chunk_tokens ({chunk_tokens})"
            )
        self.tokenizer = tokenizer
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap

    def chunk(self, documents: Sequence[Document]) -> list[Chunk]:
        return list(self.iter_chunks(documents))

    def iter_chunks(self, documents: Iterable[Document]) -> Iterator[Chunk]:
        """``chunk``'s chunks as they are made: pieces are found, counted (tokenizer calls of
        about ``COUNT_BATCH_CHARS``, across small documents) and packed as the iteration goes,
        so memory is bounded by a counting batch, not by a document's size."""
        # ``not isspace()`` is ``strip()`` without its copy of a huge text
        docs = enumerate(d for d in documents if d.text and not d.text.isspace())
        counted = self._counted((i, d, p) for i, d in docs for p in self._pieces(d.text))
        for _, group in itertools.groupby(counted, key=lambda item: item[0]):
            _, doc, first = next(group)
            pieces = itertools.chain([first], (p for _, _, p in group))  # noqa: B031
            yield from self._pack(doc, pieces)

    def _counted(self, pieces: Iterator[_Counted]) -> Iterator[_Counted]:
        """``pieces`` with their ``tokens`` set, counted in batches of ``COUNT_BATCH_CHARS``."""
        batch: list[_Counted] = []
        chars = 0

        def flush() -> list[_Counted]:
            texts = [d.text[p.start : p.end] for _, d, p in batch]
            for (_, _, p), n in zip(batch, self.tokenizer.count(texts), strict=True):
                p.tokens = n
            return batch

        for item in pieces:
            batch.append(item)
            chars += item[2].end - item[2].start
            if chars >= COUNT_BATCH_CHARS:
                yield from flush()
                batch, chars = [], 0
        if batch:
            yield from flush()

    def _pieces(self, text: str) -> Iterator[_Piece]:
        para_start = 0
        for m in itertools.chain(_PARAGRAPH.finditer(text), [None]):
            para_end = m.start() if m else len(text)
            first = True
            pos = para_start
            for s in itertools.chain(_SENTENCE_END.finditer(text, para_start, para_end), [None]):
                # the closing quotes and brackets after a full stop stay with its sentence
                end = (s.start() if s.group(1) is None else s.end(1)) if s else para_end
                visible = _NONSPACE.search(text, pos, end)  # no copy of a huge segment
                if visible is not None:
                    yield from _windows(text, visible.start(), end, first)
                    first = False
                pos = s.end() if s else para_end
            para_start = m.end() if m else len(text)

    def _pack(self, doc: Document, pieces: Iterable[_Piece]) -> Iterator[Chunk]:
        budget = self.chunk_tokens
        heading = " > ".join(doc.location.heading_path)
        if heading:
            budget = max(budget // 2, budget - len(heading) // 3 - 2)
        spans: list[tuple[int, int]] = []
        current: list[_Piece] = []
        size = 0
        place = self._placer(doc, heading)
        for piece in pieces:
            if piece.tokens > budget:
                if current:
                    spans.append((current[0].start, current[-1].end))
                    current, size = [], 0
                spans.extend(self._split_long(doc.text, piece, budget))
                yield from place(spans)
                spans.clear()
                continue
            starts_paragraph_late = piece.paragraph_start and size > budget * 0.75
            if current and (size + piece.tokens > budget or starts_paragraph_late):
                cut = len(current)
                if not starts_paragraph_late:
                    cut = _clean_cut(doc.text, current, size, piece.tokens, budget)
                spans.append((current[0].start, current[cut - 1].end))
                rest = current[cut:]  # the lines of a sentence the budget would have cut
                rest_size = sum(p.tokens for p in rest)
                current, size = self._overlap_tail(current[:cut], rest_size + piece.tokens, budget)
                current += rest
                size += rest_size
            current.append(piece)
            size += piece.tokens
            if len(spans) >= 64:
                yield from place(spans)
                spans.clear()
        if current:
            spans.append((current[0].start, current[-1].end))
        yield from place(spans)

    def _overlap_tail(
        self, current: list[_Piece], next_tokens: int, budget: int
    ) -> tuple[list[_Piece], int]:
        """Whole trailing sentences of the last chunk, up to ``overlap`` tokens, to carry over."""
        tail: list[_Piece] = []
        size = 0
        for p in reversed(current):
            if size + p.tokens > self.overlap or size + p.tokens + next_tokens > budget:
                break
            tail.insert(0, p)
            size += p.tokens
        return tail, size

    def _split_long(self, text: str, piece: _Piece, budget: int) -> list[tuple[int, int]]:
        segment = text[piece.start : piece.end]
        spans = []
        cursor = 0
        for part in self.tokenizer.split(segment, budget, min(self.overlap, budget // 4)):
            offset = segment.find(part, max(0, cursor - len(part)))
            if offset < 0:
                offset = cursor
            spans.append((piece.start + offset, piece.start + offset + len(part)))
            cursor = offset + len(part)
        return spans

    def _placer(
        self, doc: Document, heading: str
    ) -> Callable[[Sequence[tuple[int, int]]], Iterator[Chunk]]:
        """A function from spans of ``doc`` (in order, over one or more calls) to Chunks."""
        # line ranges are recomputed only where the text is the file's lines verbatim;
        # derived text (a CSV row, a JSON record, extracted HTML) keeps the loader's location
        verbatim = lines_are_verbatim(doc)
        newlines = array("q", (m.start() for m in _NEWLINE.finditer(doc.text))) if verbatim else []
        base_line = doc.location.start_line if verbatim else None
        seen: dict[str, int] = {}  # content hash -> occurrences so far (not the text: memory)
        lang = detect_lang(doc.text)

        def place(spans: Sequence[tuple[int, int]]) -> Iterator[Chunk]:
            for start, end in spans:
                body = doc.text[start:end].strip()
                if not body:
                    continue
                text = f"{heading}\n{body}" if heading else body
                loc = doc.location
                if base_line is not None:
                    first = base_line + bisect.bisect_left(newlines, start)
                    last = base_line + bisect.bisect_left(newlines, max(start, end - 1))
                    loc = loc.model_copy(update={"start_line": first, "end_line": last})
                digest = content_hash(text)
                n = seen.get(digest, 0)
                seen[digest] = n + 1
                yield Chunk(
                    id=chunk_id(doc.source, loc.record, text, n),
                    text=text,
                    source=doc.source,
                    location=loc,
                    content_hash=digest,
                    metadata={"lang": lang, **doc.metadata, SPAN_KEY: f"{start}:{end}"},
                )

        return place
