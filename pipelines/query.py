"""Query: embed the question → top-k → drop near-duplicates → pack under a token budget →
prompt with numbered sources → answer → map ``[n]`` markers back to citations.

The answer step depends on ``answer_mode``: ``extractive`` answers with the sources' own
sentences and never calls the model (``rag.pipelines.extractive``); ``generative`` calls the
model and then checks every sentence of its answer against the sources, repairing ``[n]``
markers and flagging unsupported sentences (``rag.pipelines.grounding``).

The prompt is plain text that ``Answer.prompt`` and ``rag ask --show-prompt`` show
exactly as sent. Every generation is recorded in the call log.

Each step returns a value (``Retrieval``, then ``PreparedPrompt``, then ``Answer``) and keeps
nothing about the call on the pipeline, so one ``QueryPipeline`` serves many threads at once.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from rag import tracing
from rag.chunking import detect_lang
from rag.embeddings import Embedder
from rag.errors import CollectionNotFoundError, ConfigError, LLMError
from rag.llms.base import LLM, Completion, Message
from rag.pipelines.conversation import (
    Terms,
    Turn,
    check_history,
    follow_up,
    history_slice,
    rewrite_messages,
    rewritten,
    standalone_of,
)
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.grounding import SupportChecker, markers_of
from rag.pipelines.prompt import Selection, SentenceSelector, simple_terms
from rag.pipelines.spans import (
    ask_span,
    finish_ask_span,
    generate_span,
    usage_attributes,
)
from rag.stores.base import Filters, Store, validate_filters
from rag.types import (
    Answer,
    AnswerMode,
    AnswerSentence,
    Citation,
    Retrieval,
    ScoredChunk,
    Usage,
)

SYSTEM_PROMPT = (
    "Answer the question using only the numbered sources below. Cite every fact with the "
    "number of its source in square brackets, like [1]. If the sources do not contain the "
    "answer, say that you don't know."
)
_WORDS = re.compile(r"\w+", re.UNICODE)
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_question(question: str) -> str:
    """``question`` made safe for tokenizers, stores and the call log: surrogates (bytes
    that were not UTF-8, as ``sys.argv`` escapes them) become U+FFFD and NULs are dropped, so
    any ``str`` works as a question. Idempotent; the cleaned text is what the Answer holds."""
    if not isinstance(question, str):
        raise ConfigError(f"the question must be text (str), not {type(question).__name__}")
    return _SURROGATES.sub("\ufffd", question).replace("\x00", "")


class Retrieves(Protocol):
    """Anything that finds the sources for a question (dense or hybrid), returning them as a
    value (and keeping nothing about the call on itself).

    ``context_terms`` and ``dense_query`` carry a follow-up question's context
    (``rag.pipelines.conversation``): keyword terms to search for besides the question's, and
    the text a dense leg embeds instead of the question. They are passed only for a
    follow-up, so a retriever written before them keeps working for standalone questions."""

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval: ...


class CallRecorder(Protocol):
    """Where usage of each call goes (``rag.costs.calllog.CallLog`` in practice)."""

    def record(
        self,
        usage: Usage,
        *,
        collection: str | None = None,
        question: str | None = None,
        error: str | None = None,
    ) -> None: ...


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


def near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    """True when the smaller text's words are mostly contained in the other's."""
    return _overlapping((a, _word_set(a)), (b, _word_set(b)), threshold)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(_WORDS.findall(text.lower()))


def _overlapping(
    a: tuple[str, frozenset[str]], b: tuple[str, frozenset[str]], threshold: float = 0.8
) -> bool:
    (ta, wa), (tb, wb) = a, b
    if not wa or not wb:
        return ta == tb
    return len(wa & wb) / min(len(wa), len(wb)) >= threshold


def cited_numbers(text: str) -> set[int]:
    """Numbers in ``[n]`` / ``[n, m]`` markers of an answer."""
    return set(markers_of(text))


class Retriever:
    """Dense retrieval over one store, with near-duplicates dropped."""

    def __init__(self, store: Store, embedder: Embedder, *, top_k: int = 4) -> None:
        self.store = store
        self.embedder = embedder
        self.top_k = top_k

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval:
        """The ``k`` best distinct chunks for ``question`` (one leg: no leg ranks); a
        follow-up embeds ``dense_query`` (there is no keyword leg for ``context_terms``)."""
        validate_filters(filters)
        k = k or self.top_k
        with tracing.span("dense", candidates=k * 2, store=type(self.store).__name__) as sp:
            vector = self.embedder.embed([dense_query or question], input_type="query")[0]
            hits = self.store.query(vector, k * 2, filters)
            sp.set(hits=len(hits))
        if not hits:
            check_queryable(self.store, filters)
        return Retrieval(question, tuple(distinct_hits(hits, k)), dense_query=dense_query)


def retrieve_follow_up(
    retriever: Retrieves,
    terms: Terms,
    question: str,
    *,
    k: int | None = None,
    filters: Filters | None = None,
    history: Sequence[Turn] | None = None,
    rewriter: Rewriter | None = None,
) -> Retrieval:
    """``retriever.retrieve(question)``, with a follow-up's context when ``history`` has a
    user turn (``rag.pipelines.conversation.follow_up``; ``terms``: the keyword tokenizer's):
    the model's rewrite when a ``rewriter`` gives one, else the rule."""
    turns = check_history(history)
    with tracing.span(
        "retrieve", mode=getattr(retriever, "mode", "dense"), k=k, filtered=bool(filters)
    ) as sp:
        follow = follow_up(question, turns, terms) if turns else None
        sp.set(follow_up=follow is not None)
        if follow is None:
            found = retriever.retrieve(question, k=k, filters=filters)
        else:
            rewrite = rewriter(question, turns) if rewriter is not None else None
            if rewrite is not None:
                follow = rewritten(question, turns, rewrite, terms)
            found = retriever.retrieve(
                question,
                k=k,
                filters=filters,
                context_terms=follow.context_terms,
                dense_query=follow.dense_query,
            )
            if follow.rewritten:
                found = replace(found, rewritten=True)
        sp.set(hits=len(found.hits))
        return found


Rewriter = Callable[[str, Sequence[Message]], "str | None"]
"""(follow-up, history) -> the model's standalone rewrite, or None to use the rule."""


def check_queryable(store: Store, filters: Filters | None) -> None:
    """Reject malformed filters, and a query on an empty or missing collection."""
    validate_filters(filters)
    if store.count() == 0:
        raise CollectionNotFoundError(
            f"collection '{store.collection}' is empty or does not exist; "
            "run `rag ingest PATH` first (or pick another with --collection)"
        )


def distinct_hits(hits: Sequence[ScoredChunk], limit: int) -> list[ScoredChunk]:
    """The first ``limit`` hits, skipping exact and near duplicates of those already kept."""
    kept: list[ScoredChunk] = []
    seen: set[str] = set()
    words: list[tuple[str, frozenset[str]]] = []
    for hit in hits:
        if hit.chunk.content_hash in seen:
            continue
        mine = (hit.chunk.text, _word_set(hit.chunk.text))
        if any(_overlapping(mine, other) for other in words):
            continue
        kept.append(hit)
        seen.add(hit.chunk.content_hash)
        words.append(mine)
        if len(kept) == limit:
            break
    return kept


class QueryPipeline:
    """Retrieval and generation over one store; safe to share across threads when its parts
    are (the call log and the bundled stores, retrievers and LLMs are)."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        llm: LLM,
        *,
        top_k: int = 4,
        max_context_tokens: int = 500,
        max_tokens: int | None = None,
        call_log: CallRecorder | None = None,
        retriever: Retrieves | None = None,
        selector: SentenceSelector | None = None,
        answer_mode: AnswerMode = "generative",
        extractor: ExtractiveAnswerer | None = None,
        checker: SupportChecker | None = None,
        history_tokens: int = 300,
        terms: Terms | None = None,
        rewrite_follow_ups: bool = False,
    ) -> None:
        self.store = store
        self.retriever = retriever or Retriever(store, embedder, top_k=top_k)
        self.selector = selector
        self.llm = llm
        self.max_context_tokens = max_context_tokens
        self.max_tokens = max_tokens
        self.call_log = call_log
        self.answer_mode: AnswerMode = answer_mode
        self.extractor = extractor or ExtractiveAnswerer()
        self.checker = checker
        """Checks generated answers sentence by sentence; None leaves them unchecked."""
        self.history_tokens = history_tokens
        """Token budget of the conversation's turns in a generative prompt."""
        self.terms = terms or simple_terms
        """Texts -> keyword terms (the keyword tokenizer's): a follow-up's added terms."""
        self.rewrite_follow_ups = rewrite_follow_ups
        """Whether the model rewrites a follow-up before retrieval (else the rule does)."""

    @property
    def rewriter(self) -> Rewriter | None:
        """``rewrite`` when the model rewrites follow-ups, else None (the rule)."""
        return self.rewrite if self.rewrite_follow_ups else None

    def rewrite(self, question: str, history: Sequence[Message]) -> str | None:
        """The model's standalone rewrite of the follow-up ``question`` (one short call at
        temperature 0, recorded and priced like any call), or None when it fails or gives no
        usable question: then the rule applies."""
        try:
            done = self.llm.complete(
                rewrite_messages(question, history), max_tokens=64, temperature=0.0
            )
        except LLMError as exc:
            self.record_failure(question, exc)
            return None
        self._record(done.usage, question)
        return standalone_of(done.text, question)

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Retrieval:
        """The sources for ``question``; after a ``history``, retrieved as a follow-up with
        the previous question's context (``rag.pipelines.conversation``)."""
        question = clean_question(question)
        return retrieve_follow_up(
            self.retriever,
            self.terms,
            question,
            k=k,
            filters=filters,
            history=history,
            rewriter=self.rewriter,
        )

    def prepare(
        self,
        question: str,
        hits: Retrieval | Sequence[ScoredChunk],
        *,
        history: Sequence[Turn] | None = None,
    ) -> PreparedPrompt:
        """Pack sources in relevance order under ``max_context_tokens`` (``_pack``), traced as
        the ``prepare`` stage."""
        with tracing.span("prepare", candidates=len(hits)) as sp:
            prepared = self._pack(question, hits, history=history)
            sp.set(
                sources=len(prepared.citations),
                dropped=len(prepared.dropped),
                context_tokens=prepared.context_tokens,
                messages=len(prepared.messages),
            )
            return prepared

    def _pack(
        self,
        question: str,
        hits: Retrieval | Sequence[ScoredChunk],
        *,
        history: Sequence[Turn] | None = None,
    ) -> PreparedPrompt:
        """Pack sources in relevance order under ``max_context_tokens`` and number them,
        keeping only question-relevant sentences when a selector is set. Given a
        ``Retrieval``, the notes start with why each source was retrieved. A generative
        prompt carries the most recent turns of ``history`` that fit ``history_tokens``
        as chat messages before the sources. An extractive answer sends no prompt, so it
        reads every source whole: neither the budget nor the selector applies."""
        question = clean_question(question)
        turns = check_history(history)
        citations: list[Citation] = []
        blocks: list[str] = []
        dropped: list[tuple[ScoredChunk, str]] = []
        notes: list[str] = []
        used = 0
        texts = [h.chunk.text for h in hits]
        selections: list[Selection] = []
        # an extractive answer sends no prompt: it reads every source whole, unbudgeted
        extractive = self.answer_mode == "extractive"
        if self.selector is not None and hits and not extractive:
            selections = self.selector.select(question, texts)
            texts = [s.text for s in selections]
        for i, (hit, text) in enumerate(zip(hits, texts, strict=True)):
            number = len(citations) + 1
            chunk = hit.chunk
            loc = chunk.location.describe()
            header = f"[{number}] {display_path(chunk.source)}" + (f" ({loc})" if loc else "")
            block = f"{header}\n{text}"
            if text != chunk.text:
                saved = self.llm.count_tokens(chunk.text) - self.llm.count_tokens(text)
                notes.append(
                    f"[{number}] kept {selections[i].kept} of {selections[i].total} sentences "
                    "(the others share no term with "
                    f"the question): {saved} tokens saved"
                )
            cost = self.llm.count_tokens(block)
            if used + cost > self.max_context_tokens and not extractive:
                if citations:
                    reason = (
                        f"over the context budget: {cost} tokens, {self.max_context_tokens - used}"
                        " left (max_context_tokens)"
                    )
                    dropped.append((hit, reason))
                    notes.append(f"dropped {display_path(chunk.source)} ({loc}): {reason}")
                    continue
                block = self._truncate(block, self.max_context_tokens)
                cost = self.llm.count_tokens(block)
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
                )
            )
        sources = "Sources:\n\n" + "\n\n".join(blocks)
        user = sources + f"\n\nQuestion: {question}\nAnswer:"
        earlier: tuple[Message, ...] = ()
        if turns and self.answer_mode == "generative":
            kept = history_slice(turns, self.history_tokens, self.llm.count_tokens)
            earlier = kept.turns
            notes.insert(0, kept.note(self.history_tokens))
        elif turns:
            notes.insert(0, "history: used for retrieval only (extractive answer)")
        messages = (
            Message(role="system", content=SYSTEM_PROMPT),
            *earlier,
            # the sources first, the question last: a prompt cache can keep the shared part
            Message(role="user", content=user, stable_chars=len(sources)),
        )
        if extractive and used > self.max_context_tokens:
            notes.append(
                f"extractive answer: all {len(citations)} sources read whole ({used} tokens; "
                f"no prompt is sent, so max_context_tokens={self.max_context_tokens} "
                "does not apply)"
            )
        if isinstance(hits, Retrieval):
            notes[:0] = _retrieved_notes(hits, citations)
        return PreparedPrompt(
            question, messages, tuple(citations), used, tuple(dropped), tuple(notes)
        )

    def _truncate(self, text: str, budget: int) -> str:
        """Cut ``text`` (by words) until it fits ``budget`` tokens."""
        words = text.split(" ")
        lo, hi = 1, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.llm.count_tokens(" ".join(words[:mid])) <= budget:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo]) + " …"

    def ask(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
    ) -> Answer:
        """Retrieve (unless ``retrieval`` is given), answer (extract or generate and check),
        cite. ``history``: the conversation so far (``rag.pipelines.conversation``)."""
        question = clean_question(question)
        with ask_span(self.store.collection, question) as sp:
            answer = self._ask(question, filters, k, history, retrieval)
            finish_ask_span(sp, answer)
            return answer

    def _ask(
        self,
        question: str,
        filters: Filters | None,
        k: int | None,
        history: Sequence[Turn] | None,
        retrieval: Retrieval | None,
    ) -> Answer:
        prepared, retrieval_s = self.prepared_for(
            question, filters=filters, k=k, history=history, retrieval=retrieval
        )
        if self.answer_mode == "extractive":
            return self.extract(question, prepared, retrieval_s)
        with generate_span(self.llm, self.max_tokens) as gen:
            try:
                completion = self.llm.complete(prepared.messages, max_tokens=self.max_tokens)
            except Exception as exc:
                self.record_failure(question, exc)
                raise
            gen.set(usage_attributes(completion.usage))
        return self.generated(question, prepared, completion, retrieval_s)

    def ask_stream(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
    ) -> Iterator[str | Answer]:
        """Like ``ask``, but yields text deltas as they arrive and then the Answer (an
        extractive answer arrives as one delta). Given ``retrieval`` (the sources already
        shown, say), it packs those hits and does not retrieve again."""
        question = clean_question(question)
        # spans stay open across the yields: ``RAG.ask_stream`` runs each step in one context
        # (``tracing.iterate``), so they attach and detach in the same one
        with ask_span(self.store.collection, question) as sp:
            prepared, retrieval_s = self.prepared_for(
                question, filters=filters, k=k, history=history, retrieval=retrieval
            )
            if self.answer_mode == "extractive":
                answer = self.extract(question, prepared, retrieval_s)
                finish_ask_span(sp, answer)
                yield answer.text
                yield answer
                return
            completion: Completion | None = None
            with generate_span(self.llm, self.max_tokens) as gen:
                try:
                    for event in self.llm.stream(prepared.messages, max_tokens=self.max_tokens):
                        if event.completion is not None:
                            completion = event.completion
                        elif event.text:
                            yield event.text
                except Exception as exc:
                    self.record_failure(question, exc)
                    raise
                assert completion is not None, "an LLM stream must end with its completion"
                gen.set(usage_attributes(completion.usage))
            answer = self.generated(question, prepared, completion, retrieval_s)
            finish_ask_span(sp, answer)
            yield answer

    # --- the stages of ask, public so that an async caller (rag.aio) can run the blocking
    # ones in its executor and await the generation in between ---

    def prepared_for(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
    ) -> tuple[PreparedPrompt, float]:
        """Retrieve and pack: the prompt ``ask`` sends, and the retrieval's seconds (0 when
        ``retrieval`` is given: its hits are packed, nothing is retrieved)."""
        question = clean_question(question)
        turns = check_history(history)
        if retrieval is not None:
            return self.prepare(question, retrieval, history=turns), 0.0
        started = time.perf_counter()
        hits = self.retrieve(question, k=k, filters=filters, history=turns)
        retrieval_s = time.perf_counter() - started
        return self.prepare(question, hits, history=turns), retrieval_s

    def generated(
        self, question: str, prepared: PreparedPrompt, completion: Completion, retrieval_s: float
    ) -> Answer:
        """The Answer for a finished generation: its usage recorded, its sentences checked."""
        question = clean_question(question)
        self._record(completion.usage, question)
        return self._answer(question, prepared, completion, retrieval_s)

    def extract(self, question: str, prepared: PreparedPrompt, retrieval_s: float) -> Answer:
        """The extractive answer: no model call; its usage counts the answer's tokens (with
        the model's tokenizer) at no cost, and is recorded like any call."""
        question = clean_question(question)
        with tracing.span("generate", answer_mode="extractive") as sp:
            started = time.perf_counter()
            composed = self.extractor.compose(
                question, prepared.citations, lang=detect_lang(question)
            )
            sp.set(abstained=composed.abstained, sentences=len(composed.sentences))
        usage = Usage(
            backend="extractive",
            model="rag",
            input_tokens=0,
            output_tokens=self.llm.count_tokens(composed.text),
            latency_s=time.perf_counter() - started,
            cost=Decimal(0),
        )
        self._record(usage, question)
        return self._finish(
            prepared,
            composed.text,
            usage,
            retrieval_s,
            mode="extractive",
            sentences=composed.sentences,
            grounded=None if composed.abstained else 1.0,
            abstained=composed.abstained,
        )

    def _record(self, usage: Usage, question: str) -> None:
        if self.call_log is not None:
            self.call_log.record(usage, collection=self.store.collection, question=question)

    def record_failure(self, question: str, exc: Exception) -> None:
        """Log a failed generation (unless the router already logged it)."""
        question = clean_question(question)
        if self.call_log is not None and not (isinstance(exc, LLMError) and exc.logged):
            usage = Usage(
                backend=self.llm.backend,
                model=self.llm.model,
                outcome=f"error:{getattr(exc, 'kind', 'error')}",
                cost=Decimal(0),
            )
            self.call_log.record(
                usage, collection=self.store.collection, question=question, error=str(exc)
            )

    def _answer(
        self, question: str, prepared: PreparedPrompt, completion: Completion, retrieval_s: float
    ) -> Answer:
        """The generated answer; with a checker, its markers repaired and each sentence judged."""
        if self.checker is None or not completion.text:
            return self._finish(prepared, completion.text, completion.usage, retrieval_s)
        with tracing.span("check", sources=len(prepared.citations)) as sp:
            checked = self.checker.check(
                completion.text, prepared.citations, lang=detect_lang(question)
            )
            sp.set(grounded=checked.grounded, abstained=checked.abstained)
        return self._finish(
            prepared,
            checked.text,
            completion.usage,
            retrieval_s,
            sentences=checked.sentences,
            grounded=checked.grounded,
            abstained=checked.abstained,
        )

    @staticmethod
    def _finish(
        prepared: PreparedPrompt,
        text: str,
        usage: Usage,
        retrieval_s: float,
        *,
        mode: AnswerMode = "generative",
        sentences: Sequence[AnswerSentence] = (),
        grounded: float | None = None,
        abstained: bool = False,
    ) -> Answer:
        """The Answer value for either mode: citations marked by the ``[n]`` in ``text``."""
        numbers = cited_numbers(text)
        return Answer(
            question=prepared.question,
            text=text,
            citations=[
                c.model_copy(update={"cited": c.number in numbers}) for c in prepared.citations
            ],
            usage=usage,
            prompt=prepared.text,
            prompt_notes=list(prepared.notes),
            retrieval_latency_s=retrieval_s,
            mode=mode,
            sentences=list(sentences),
            grounded=grounded,
            abstained=abstained,
        )


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
