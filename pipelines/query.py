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

Retrieval (``Retriever``, follow-ups, de-duplication) lives in ``query_retrieve`` and prompt
packing (``PreparedPrompt``, the budget) in ``query_pack``; their names are re-exported here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Protocol

from rag import tracing
from rag.chunking import detect_lang
from rag.embeddings import Embedder
from rag.errors import ConfigError, LLMError
from rag.llms.base import LLM, Completion, Message
from rag.pipelines.conversation import Terms, Turn, check_history, rewrite_messages, standalone_of
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.grounding import SupportChecker, markers_of
from rag.pipelines.prompt import SentenceSelector, simple_terms
from rag.pipelines.query_pack import SYSTEM_PROMPT, PreparedPrompt, display_path, pack_prompt
from rag.pipelines.query_retrieve import (
    Retriever,
    Retrieves,
    Rewriter,
    check_queryable,
    distinct_hits,
    near_duplicate,
    retrieve_follow_up,
)
from rag.pipelines.spans import ask_span, finish_ask_span, generate_span, usage_attributes
from rag.stores.base import Filters, Store
from rag.types import Answer, AnswerMode, AnswerSentence, Retrieval, ScoredChunk, Usage

__all__ = [
    "SYSTEM_PROMPT",
    "CallRecorder",
    "PreparedPrompt",
    "QueryPipeline",
    "Retriever",
    "Retrieves",
    "Rewriter",
    "check_prepared",
    "check_queryable",
    "cited_numbers",
    "clean_question",
    "display_path",
    "distinct_hits",
    "near_duplicate",
    "retrieve_follow_up",
]

_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_question(question: str) -> str:
    """``question`` made safe for tokenizers, stores and the call log: surrogates (bytes
    that were not UTF-8, as ``sys.argv`` escapes them) become U+FFFD and NULs are dropped, so
    any ``str`` works as a question. Idempotent; the cleaned text is what the Answer holds."""
    if not isinstance(question, str):
        raise ConfigError(f"the question must be text (str), not {type(question).__name__}")
    return _SURROGATES.sub("\ufffd", question).replace("\x00", "")


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


def check_prepared(question: str, prepared: PreparedPrompt) -> PreparedPrompt:
    """``prepared`` if it was packed for ``question`` (cleaned), else ValueError naming both:
    sending another question's prompt would answer the wrong question."""
    if prepared.question != question:
        raise ValueError(
            f"the prepared prompt is for the question {prepared.question!r}, not "
            f"{question!r}; pass the question given to prepare, or prepare this one"
        )
    return prepared


def cited_numbers(text: str) -> set[int]:
    """Numbers in ``[n]`` / ``[n, m]`` markers of an answer."""
    return set(markers_of(text))


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
        """Pack sources in relevance order under ``max_context_tokens`` and number them
        (``rag.pipelines.query_pack.pack_prompt``), with this pipeline's budgets, selector
        and answer mode. An extractive answer sends no prompt, so it reads every source
        whole: neither the budget nor the selector applies."""
        return pack_prompt(
            clean_question(question),
            hits,
            turns=check_history(history),
            count_tokens=self.llm.count_tokens,
            max_context_tokens=self.max_context_tokens,
            history_tokens=self.history_tokens,
            answer_mode=self.answer_mode,
            selector=self.selector,
        )

    def ask(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
        prepared: PreparedPrompt | None = None,
    ) -> Answer:
        """Retrieve (unless ``retrieval`` is given), answer (extract or generate and check),
        cite. ``history``: the conversation so far (``rag.pipelines.conversation``).
        ``prepared``: the prompt ``prepare`` returned for this question; it is sent as it is
        (nothing retrieved or packed again; it wins over ``retrieval``, ``filters``, ``k``
        and ``history``), and one for another question is a ValueError."""
        question = clean_question(question)
        with ask_span(self.store.collection, question) as sp:
            answer = self._ask(question, filters, k, history, retrieval, prepared)
            finish_ask_span(sp, answer)
            return answer

    def _ask(
        self,
        question: str,
        filters: Filters | None,
        k: int | None,
        history: Sequence[Turn] | None,
        retrieval: Retrieval | None,
        given: PreparedPrompt | None,
    ) -> Answer:
        prepared, retrieval_s = self.prepared_for(
            question, filters=filters, k=k, history=history, retrieval=retrieval, prepared=given
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
        prepared: PreparedPrompt | None = None,
    ) -> Iterator[str | Answer]:
        """Like ``ask``, but yields text deltas as they arrive and then the Answer (an
        extractive answer arrives as one delta). Given ``retrieval`` (the sources already
        shown, say), it packs those hits and does not retrieve again; given ``prepared``
        (the prompt ``prepare`` returned for this question), it sends that prompt as it is
        (as ``ask``)."""
        question = clean_question(question)
        given = prepared
        # spans stay open across the yields: ``RAG.ask_stream`` runs each step in one context
        # (``tracing.iterate``), so they attach and detach in the same one
        with ask_span(self.store.collection, question) as sp:
            prepared, retrieval_s = self.prepared_for(
                question,
                filters=filters,
                k=k,
                history=history,
                retrieval=retrieval,
                prepared=given,
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
        prepared: PreparedPrompt | None = None,
    ) -> tuple[PreparedPrompt, float]:
        """Retrieve and pack: the prompt ``ask`` sends, and the retrieval's seconds. Given
        ``retrieval``, its hits are packed (nothing retrieved) and its ``seconds`` reported;
        given ``prepared`` (the prompt ``prepare`` returned for this question: a ValueError
        for another one), it is returned as it is with its ``retrieval_seconds``, nothing
        retrieved or packed again (it wins over ``retrieval``)."""
        question = clean_question(question)
        if prepared is not None:
            return check_prepared(question, prepared), prepared.retrieval_seconds
        turns = check_history(history)
        if retrieval is None:
            retrieval = self.retrieve(question, k=k, filters=filters, history=turns)
        prepared = self.prepare(question, retrieval, history=turns)
        return prepared, prepared.retrieval_seconds

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
            abstain_reason=composed.reason or None,
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
        abstain_reason: str | None = None,
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
            abstain_reason=abstain_reason,
        )
