"""Prompt packing: retrieved sources numbered and packed under a token budget into the exact
messages sent (``PreparedPrompt``), with notes on what was kept, cut and why. Apart from
``query.py`` so what the prompt holds is read and changed in one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rag.chunking import chunk_span
from rag.llms.base import Message
from rag.pipelines.conversation import history_slice
from rag.pipelines.prompt import Selection, SentenceSelector
from rag.types import AnswerMode, Citation, Retrieval, ScoredChunk

__all__ = ["SYSTEM_PROMPT", "PreparedPrompt", "display_path", "pack_prompt", "truncate"]

SYSTEM_PROMPT = (
    "Answer the question using only the numbered sources below. Cite every fact with the "
    "number of its source in square brackets, like [1]. If the sources do not contain the "
    "answer, say that you don't know."
)


@dataclass(frozen=True)
class PreparedPrompt:
    """The exact messages to send, the citations their numbers stand for, and notes on how
    the sources were picked and cut: everything ``ask`` sends, without generating."""

    question: str
    messages: tuple[Message, ...]
    citations: tuple[Citation, ...]
    context_tokens: int
    dropped: tuple[tuple[ScoredChunk, str], ...]
    """Candidates left out of the prompt, with the reason (duplicate, over budget)."""
    notes: tuple[str, ...]
    """Why each source was retrieved (its rank in each leg) and what was cut and why, one
    line each, for ``--show-prompt``."""
    retrieval_seconds: float = field(default=0.0, compare=False)
    """How long the retrieval of the packed hits took (their ``Retrieval.seconds``; 0 when
    they were not a ``Retrieval`` or not timed): an ``ask`` given this prompt reports it."""

    @property
    def text(self) -> str:
        return "\n\n".join(f"<{m.role}>\n{m.content}" for m in self.messages)


def display_path(source: str) -> str:
    """``source`` relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(source)
    except ValueError:
        return source
    return source if rel.startswith("..") else rel


def pack_prompt(
    question: str,
    hits: Retrieval | Sequence[ScoredChunk],
    *,
    turns: Sequence[Message],
    count_tokens: Callable[[str], int],
    max_context_tokens: int,
    history_tokens: int,
    answer_mode: AnswerMode,
    selector: SentenceSelector | None,
) -> PreparedPrompt:
    """Pack sources in relevance order under ``max_context_tokens`` and number them,
    keeping only question-relevant sentences when a selector is set. Given a
    ``Retrieval``, the notes start with why each source was retrieved. A generative
    prompt carries the most recent ``turns`` that fit ``history_tokens`` as chat messages
    before the sources. An extractive answer sends no prompt, so it reads every source
    whole: neither the budget nor the selector applies. A ``Retrieval``'s ``seconds`` become
    the prompt's ``retrieval_seconds``. ``question`` and ``turns`` come cleaned and checked
    (``QueryPipeline._pack``)."""
    citations: list[Citation] = []
    blocks: list[str] = []
    dropped: list[tuple[ScoredChunk, str]] = []
    notes: list[str] = []
    used = 0
    texts = [h.chunk.text for h in hits]
    selections: list[Selection] = []
    # an extractive answer sends no prompt: it reads every source whole, unbudgeted
    extractive = answer_mode == "extractive"
    if selector is not None and hits and not extractive:
        selections = selector.select(question, texts)
        texts = [s.text for s in selections]
    for i, (hit, text) in enumerate(zip(hits, texts, strict=True)):
        number = len(citations) + 1
        chunk = hit.chunk
        loc = chunk.location.describe()
        header = f"[{number}] {display_path(chunk.source)}" + (f" ({loc})" if loc else "")
        block = f"{header}\n{text}"
        if text != chunk.text:
            saved = count_tokens(chunk.text) - count_tokens(text)
            notes.append(
                f"[{number}] kept {selections[i].kept} of {selections[i].total} sentences "
                "(the others share no term with "
                f"the question): {saved} tokens saved"
            )
        cost = count_tokens(block)
        if used + cost > max_context_tokens and not extractive:
            if citations:
                reason = (
                    f"over the context budget: {cost} tokens, {max_context_tokens - used}"
                    " left (max_context_tokens)"
                )
                dropped.append((hit, reason))
                notes.append(f"dropped {display_path(chunk.source)} ({loc}): {reason}")
                continue
            block = truncate(block, max_context_tokens, count_tokens)
            cost = count_tokens(block)
            notes.append(f"[{number}] truncated to fit max_context_tokens")
        used += cost
        blocks.append(block)
        citations.append(
            Citation(
                number=number,
                source=chunk.source,
                location=chunk.location,
                chunk_id=chunk.id,
                text=chunk.text,
                score=hit.score,
                root=chunk.root,
                rel_path=chunk.rel_path,
                span=chunk_span(chunk),
            )
        )
    sources = "Sources:\n\n" + "\n\n".join(blocks)
    user = sources + f"\n\nQuestion: {question}\nAnswer:"
    earlier: tuple[Message, ...] = ()
    if turns and answer_mode == "generative":
        kept = history_slice(turns, history_tokens, count_tokens)
        earlier = kept.turns
        notes.insert(0, kept.note(history_tokens))
    elif turns:
        notes.insert(0, "history: used for retrieval only (extractive answer)")
    messages = (
        Message(role="system", content=SYSTEM_PROMPT),
        *earlier,
        # the sources first, the question last: a prompt cache can keep the shared part
        Message(role="user", content=user, stable_chars=len(sources)),
    )
    if extractive and used > max_context_tokens:
        notes.append(
            f"extractive answer: all {len(citations)} sources read whole ({used} tokens; "
            f"no prompt is sent, so max_context_tokens={max_context_tokens} "
            "does not apply)"
        )
    seconds = 0.0
    if isinstance(hits, Retrieval):
        notes[:0] = _retrieved_notes(hits, citations)
        seconds = hits.seconds
    return PreparedPrompt(
        question,
        messages,
        tuple(citations),
        used,
        tuple(dropped),
        tuple(notes),
        retrieval_seconds=seconds,
    )


def truncate(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """Cut ``text`` (by words) until it fits ``budget`` tokens."""
    words = text.split(" ")
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(" ".join(words[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + " …"


def _retrieved_notes(retrieval: Retrieval, citations: Sequence[Citation]) -> list[str]:
    """The retrieval query of a follow-up, then ``[n] retrieved: dense #.., keyword #..,
    score ..`` for each numbered source."""
    lines: list[str] = []
    if retrieval.context_terms or retrieval.dense_query:
        added = ", ".join(retrieval.context_terms) or "none"
        dense = f"; dense query: {retrieval.dense_query!r}" if retrieval.dense_query else ""
        how = "rewritten by the model" if retrieval.rewritten else "from the history"
        lines.append(f"follow-up retrieval: keyword terms added {how}: {added}{dense}")
    for c in citations:
        ranks = retrieval.rank_of(c.chunk_id)
        if ranks is not None:
            lines.append(f"[{c.number}] retrieved: {ranks.describe()}")
    return lines
