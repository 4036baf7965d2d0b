"""The value types that flow through rag: documents in, chunks stored, answers out.

All are pydantic models so they validate, compare and serialize themselves
(``model_dump_json``) without hand-written ``to_dict`` pairs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    """Absolute path of the file it came from."""
    text: str
    location: Location = Field(default_factory=Location)
    metadata: Metadata = Field(default_factory=dict)


class Chunk(BaseModel):
    """A piece of a document small enough to embed whole, with everything a citation needs."""

    id: str
    """Deterministic: same source, record and text give the same id, so re-runs never duplicate."""
    text: str
    source: str
    location: Location = Field(default_factory=Location)
    content_hash: str
    """sha256 of ``text``; identical text is embedded once."""
    metadata: Metadata = Field(default_factory=dict)


class ScoredChunk(BaseModel):
    """A chunk returned by a query, with its similarity (higher is closer)."""

    chunk: Chunk
    score: float


class Usage(BaseModel):
    """What one model call cost: tokens, time and money. ``cost`` is ``None`` when unknown."""

    backend: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    latency_s: float = 0.0
    time_to_first_token_s: float | None = None
    cost: Decimal | None = Decimal(0)
    """In USD. ``None`` means the price is unknown, never silently zero."""
    request_id: str | None = None
    outcome: str = "ok"
    route: str = "primary"
    """Why this backend served the call: primary, fallback after an error, budget downgrade."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def describe(self) -> str:
        """One line for terminals: backend/model, tokens, latency, cost."""
        cost = "unknown" if self.cost is None else f"${self.cost:.6f}"
        return (
            f"{self.backend}:{self.model} · {self.input_tokens} in / {self.output_tokens} out tokens"
            f" · {self.latency_s:.2f} s · {cost}"
        )


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

    def describe(self) -> str:
        loc = self.location.describe()
        return f"[{self.number}] {self.source}" + (f" ({loc})" if loc else "")


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

    @property
    def cited(self) -> list[Citation]:
        """The citations the answer actually refers to with ``[n]``."""
        return [c for c in self.citations if c.cited]


FileStatus = Literal["new", "changed", "unchanged", "failed"]


class FileFailure(BaseModel):
    """A file that could not be ingested, and what the user can do about it."""

    path: str
    error: str


class IngestReport(BaseModel):
    """Summary of one ingest run, the same for the CLI and the library."""

    collection: str
    files_seen: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    """Files with an extension no loader reads."""
    chunks_total: int = 0
    """Chunks produced from the new and changed files."""
    chunks_embedded: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    failures: list[FileFailure] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.files_failed == 0
