"""The value types that flow through rag: documents in, chunks stored, answers out.

All are pydantic models so they validate, compare and serialize themselves
(``model_dump_json``) without hand-written ``to_dict`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

Vectors = npt.NDArray[np.float32]
"""Rows of float32 vectors (embedders return them; stores take them)."""

MetadataValue = str | int | float | bool
Metadata = dict[str, MetadataValue]


class Location(BaseModel):
    """Where a piece of text sits in its source file, for citations."""

    model_config = ConfigDict(frozen=True)

    page: int | None = None
    """1-based PDF page."""
    start_line: int | None = None
    """1-based first line of the text in the source file."""
    end_line: int | None = None
    """1-based last line (inclusive)."""
    heading_path: tuple[str, ...] = ()
    """Markdown/HTML headings enclosing the text, outermost first."""
    record: str | None = None
    """Record id inside a multi-record file (a JSONL line's ``id``, a CSV row)."""

    def describe(self) -> str:
        """Short human form: ``p. 3``, ``lines 10-24``, ``record 42``."""
        parts: list[str] = []
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.start_line is not None:
            if self.end_line is not None and self.end_line != self.start_line:
                parts.append(f"lines {self.start_line}-{self.end_line}")
            else:
                parts.append(f"line {self.start_line}")
        if self.heading_path:
            parts.append(" > ".join(self.heading_path))
        return ", ".join(parts)


class Document(BaseModel):
    """One loaded unit of text: a file, a PDF page, a Markdown section or a JSONL record."""

    source: str
    """Absolute (real) path of the file it came from."""
    text: str
    location: Location = Field(default_factory=Location)
    metadata: Metadata = Field(default_factory=dict)


def line_count(text: str) -> int:
    """Number of lines in ``text`` (a trailing newline does not start a new line)."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def lines_are_verbatim(doc: Document) -> bool:
    """True when ``doc.text`` is the source's lines ``start_line..end_line`` verbatim, so a
    chunker may give each chunk ``start_line + (newlines before it)``. False for derived
    text (a CSV row as ``column: value`` lines, a JSONL record, extracted HTML), whose
    location a chunker must copy unchanged."""
    loc = doc.location
    if loc.start_line is None or loc.end_line is None:
        return False
    return loc.end_line - loc.start_line + 1 == line_count(doc.text)


class Chunk(BaseModel):
    """A piece of a document small enough to embed whole, with everything a citation needs."""

    id: str
    """Deterministic: same source, record and text give the same id, so re-runs never duplicate."""
    text: str
    source: str
    """The file's key: its real absolute path (one per file, however it was reached)."""
    location: Location = Field(default_factory=Location)
    content_hash: str
    """sha256 of ``text``; identical text is embedded once."""
    metadata: Metadata = Field(default_factory=dict)
    root: str = ""
    """The real directory the file was ingested under (the root given, an allowed root for a
    file reached through a link into one, the parent directory for a single file); empty for
    chunks stored before roots were recorded, or documents that are not files."""
    rel_path: str = ""
    """The file's path relative to ``root``, ``/``-separated (``docs/a.md``); empty with it."""


class ScoredChunk(BaseModel):
    """A chunk returned by a query, with its similarity (higher is closer)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class LegRanks:
    """Why a chunk was retrieved: its 1-based rank in each leg (None = not returned) and score."""

    chunk_id: str
    dense_rank: int | None
    keyword_rank: int | None
    score: float

    def describe(self) -> str:
        dense = f"dense #{self.dense_rank}" if self.dense_rank else "dense -"
        keyword = f"keyword #{self.keyword_rank}" if self.keyword_rank else "keyword -"
        return f"{dense}, {keyword}, score {self.score:.4f}"


@dataclass(frozen=True)
class Retrieval(Sequence[ScoredChunk]):
    """What one retrieval found: the hits, best first, and why each was picked.

    A value returned per call (never state kept on the retriever), so one retriever serves
    many threads at once. It is a sequence of its hits (``retrieval[0]``, ``len``, slices,
    iteration), so code written for a list of hits keeps working.
    """

    question: str
    hits: tuple[ScoredChunk, ...]
    ranks: tuple[LegRanks, ...] = ()
    """Per hit (same order), its rank in each leg and fused score; empty when the
    retriever has no legs to report (plain dense retrieval)."""
    mode: str = "dense"
    """The retrieval mode that ran: dense, keyword or hybrid."""
    context_terms: tuple[str, ...] = ()
    """Terms from the conversation the keyword leg searched for besides the question's (a
    follow-up question; ``rag.pipelines.conversation``)."""
    dense_query: str | None = None
    """The text the dense leg embedded when it was not the question alone (a follow-up)."""
    rewritten: bool = False
    """True when the model rewrote the follow-up (``dense_query`` holds its rewrite)."""
    seconds: float = field(default=0.0, compare=False)
    """How long the retrieval took, 0 when not measured; ``ask(retrieval=...)`` reports it as
    the answer's ``retrieval_latency_s``. A timing, not part of what was found: equal
    retrievals may differ in it."""

    def rank_of(self, chunk_id: str) -> LegRanks | None:
        """The leg ranks of the hit with ``chunk_id``, or None."""
        return next((r for r in self.ranks if r.chunk_id == chunk_id), None)

    def top(self, k: int) -> Retrieval:
        """The first ``k`` hits (and their ranks), with the same ``seconds``."""
        return replace(self, hits=self.hits[:k], ranks=self.ranks[:k])

    @overload
    def __getitem__(self, index: int) -> ScoredChunk: ...

    @overload
    def __getitem__(self, index: slice) -> list[ScoredChunk]: ...

    def __getitem__(self, index: int | slice) -> ScoredChunk | list[ScoredChunk]:
        if isinstance(index, slice):
            return list(self.hits[index])
        return self.hits[index]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[ScoredChunk]:
        return iter(self.hits)


class Usage(BaseModel):
    """What one model call cost: tokens, time and money. ``cost`` is ``None`` when unknown."""

    backend: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    """Input tokens read from the provider's prompt cache (counted in ``input_tokens`` too)."""
    cache_write_tokens: int = 0
    """Input tokens written to the prompt cache (Anthropic; counted in ``input_tokens`` too)."""
    latency_s: float = 0.0
    time_to_first_token_s: float | None = None
    cost: Decimal | None = Decimal(0)
    """In USD. ``None`` means the price is unknown, never silently zero."""
    request_id: str | None = None
    outcome: str = "ok"
    route: str = "primary"
    """Why this backend served the call: primary, fallback after an error, budget downgrade."""
    tokens_estimated: bool = False
    """True when the backend did not report its token counts and rag estimated them
    (``rag.llms.base.approx_tokens``), as for a LlamaIndex LLM that returns no usage."""

    adapter: str | None = None
    """The LoRA adapter the local model ran with: file name, sha256 prefix and scale
    (``ko.gguf sha256:1a2b3c4d5e6f scale 0.8``); None = the base model alone."""

    kind: str = "llm"
    """What the call was: ``llm`` (a generation) or ``embedding`` (texts embedded by a hosted
    model; ``input_tokens`` holds the tokens embedded)."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def output_tokens_per_s(self) -> float | None:
        """Generation speed: output tokens over the time spent producing them (after the first
        token when a stream reported it, else the whole latency); None without both."""
        return output_rate(self.output_tokens, self.latency_s, self.time_to_first_token_s)

    def describe(self) -> str:
        """One line for terminals: backend/model (and adapter), tokens, speed, latency, cost."""
        cost = "unknown" if self.cost is None else f"${self.cost:.6f}"
        model = f"{self.backend}:{self.model}" + (f" + {self.adapter}" if self.adapter else "")
        cache = ""
        if self.cached_input_tokens or self.cache_write_tokens:
            cache = f" ({self.cached_input_tokens} cache read, {self.cache_write_tokens} written)"
        rate = self.output_tokens_per_s
        speed = "" if rate is None else f" · {rate:.1f} tok/s"
        ttft = self.time_to_first_token_s
        first = "" if ttft is None else f" · first token {ttft:.2f} s"
        return (
            f"{model} · {self.input_tokens} in{cache} / {self.output_tokens} out tokens{speed}"
            f" · {self.latency_s:.2f} s{first} · {cost}"
        )


def output_rate(output_tokens: int, latency_s: float, ttft_s: float | None) -> float | None:
    """Output tokens per second: after the first token (``ttft_s``, a stream's) the remaining
    tokens over the remaining time, else all tokens over the whole latency; None when there is
    nothing to measure."""
    if ttft_s is not None and output_tokens > 1 and latency_s > ttft_s:
        return (output_tokens - 1) / (latency_s - ttft_s)
    if output_tokens > 0 and latency_s > 0:
        return output_tokens / latency_s
    return None


class Citation(BaseModel):
    """A numbered source in the prompt, mapped back to its file and location."""

    number: int
    source: str
    location: Location
    chunk_id: str
    text: str
    score: float
    cited: bool = False
    """True when the answer text carries this source's ``[n]`` marker."""
    root: str = ""
    """The directory the source was ingested under (``Chunk.root``; empty when unknown)."""
    rel_path: str = ""
    """The source's path relative to ``root`` (``docs/a.md``; empty when unknown)."""
    span: tuple[int, int] | None = None
    """Where the chunk's text sits in its document (characters, start and end; None for a
    chunk stored before rag recorded it): the answerer joins a document's chunks that touch."""

    @property
    def path(self) -> str:
        """The path to show a reader: relative to its root when recorded, else the source."""
        return self.rel_path or self.source

    def describe(self) -> str:
        loc = self.location.describe()
        return f"[{self.number}] {self.source}" + (f" ({loc})" if loc else "")


class AnswerSentence(BaseModel):
    """One sentence of an answer and whether the sources back it."""

    text: str
    """The sentence with its (repaired) ``[n]`` markers."""
    citations: list[int] = Field(default_factory=list)
    """The numbers of the sources that support it."""
    supported: bool | None = None
    """True/False from the support check; None for a sentence that says the sources do not
    answer (an abstention)."""
    support: float = 0.0
    """The best source's support score (0..1; see ``rag.pipelines.grounding``)."""


AnswerMode = Literal["extractive", "generative"]


class Answer(BaseModel):
    """The result of ``RAG.ask``: text, the sources it was built from, and what the call cost."""

    question: str
    text: str
    citations: list[Citation]
    """Every source that was in the prompt, numbered as the model saw them."""
    usage: Usage
    prompt: str = ""
    """The exact prompt sent to the model (system + user), for ``--show-prompt``."""
    prompt_notes: list[str] = Field(default_factory=list)
    """What was cut from the sources to fit the budget, and why."""
    retrieval_latency_s: float = 0.0
    mode: AnswerMode = "generative"
    """``extractive``: built from the sources' own sentences (no model call); ``generative``:
    written by the model, then checked sentence by sentence."""
    sentences: list[AnswerSentence] = Field(default_factory=list)
    """The answer's sentences with their support verdicts (empty when not checked)."""
    grounded: float | None = None
    """Share of the answer's sentences supported by a source they cite (None: not checked,
    or the answer only abstains)."""
    abstained: bool = False
    """True when the answer says the sources do not answer the question."""
    abstain_reason: str | None = None
    """Why an extractive answer abstained ("no source mentions zsh", "the closest sentence
    gives no default"), so the reader can judge the refusal; None otherwise."""

    @property
    def unsupported(self) -> list[AnswerSentence]:
        """Sentences no source backs."""
        return [s for s in self.sentences if s.supported is False]

    @property
    def cited(self) -> list[Citation]:
        """The citations the answer actually refers to with ``[n]``."""
        return [c for c in self.citations if c.cited]


FileStatus = Literal["new", "changed", "unchanged", "failed"]


class FileFailure(BaseModel):
    """A file that could not be ingested, and what the user can do about it."""

    path: str
    error: str


class FileWarning(BaseModel):
    """A file that was ingested, but not exactly as it is (``rag.sanitize`` mapped text or
    metadata no store can hold); the message says what changed."""

    path: str
    warning: str


class IngestReport(BaseModel):
    """Summary of one ingest run, the same for the CLI and the library."""

    collection: str
    files_seen: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_moved: int = 0
    """Stored files found again under another root (a moved or renamed root) at the same
    relative path with the same content: re-keyed to their new path, nothing re-embedded."""
    files_rerooted: int = 0
    """Unchanged stored files whose root or relative path was recorded anew (stored by a
    version that recorded none, or under a narrower root): rewritten, nothing re-embedded."""
    files_copied: int = 0
    """New files (counted in ``files_new`` too) whose bytes were already stored under another
    path (a second clone, a mirrored folder): they took the stored vectors."""
    files_failed: int = 0
    files_skipped: int = 0
    """Files with an extension no loader reads."""
    files_excluded_kept: int = 0
    """Stored files under the ingested folder that still exist but this run did not walk
    (a narrower ``--include``/``--exclude``, hidden): kept, not pruned."""
    chunks_total: int = 0
    """Chunks produced from the new and changed files."""
    chunks_embedded: int = 0
    chars_embedded: int = 0
    """Characters of the texts embedded (the ingest plan's rate is measured in them)."""
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    failures: list[FileFailure] = Field(default_factory=list)
    warnings: list[FileWarning] = Field(default_factory=list)
    """Files stored with text or metadata mapped by ``rag.sanitize`` (not failures)."""
    embedded_by_node: dict[str, int] = Field(default_factory=dict)
    """``--engine ray`` only: parts embedded per Ray node id (which nodes did the work)."""

    @property
    def ok(self) -> bool:
        return self.files_failed == 0


@dataclass(frozen=True)
class AskFailure:
    """A question of a batch (``ask_many``) that got no answer: its place, the error's kind and
    message. The other questions of the batch are answered all the same."""

    index: int
    """The question's position in the batch."""
    question: str
    kind: str
    """``budget``, ``rate_limit``, ``timeout``, ... (``LLMError.kind``) or the exception's
    class name."""
    message: str
    error: Exception = field(repr=False, compare=False)
