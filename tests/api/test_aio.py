"""``AsyncRAG`` with fakes (memory store, in-process BM25, ``FakeEmbedder``, ``ScriptedLLM``):
the same results as ``RAG`` on the same data, concurrent asks that keep their own sources, an
early-stopped stream that frees the model, and ``aclose`` that stops every thread."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from topic_corpus import TOPICS, topic, write_corpus

import rag
from rag.aio import WORKER_THREAD_PREFIX, AsyncRAG
from rag.api import RAG
from rag.chunking import TokenChunker
from rag.llms import as_async
from rag.llms.base import AsyncLLM, Message, StreamEvent
from rag.llms.offload import OffloadedLLM
from rag.pipelines.hybrid import LEG_THREAD_PREFIX
from rag.pipelines.query import PreparedPrompt, QueryPipeline
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM, echo_question
from rag.types import Answer


def parts(tmp_path: Path, llm: Any = None) -> dict[str, Any]:
    embedder = FakeEmbedder(dimension=256)
    return {
        "store": MemoryStore("aio"),
        "embedder": embedder,
        "llm": llm if llm is not None else ScriptedLLM(reply=echo_question),
        "chunker": TokenChunker(embedder.tokenizer, 60, 10),
        "data_dir": tmp_path / "data",
        "top_k": 2,
        "answer_mode": "generative",
    }


def worker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(WORKER_THREAD_PREFIX)}


def same(a: Answer, b: Answer) -> None:
    """Equal answers, but for the timings."""
    skip = {"usage", "retrieval_latency_s"}
    assert a.model_dump(exclude=skip) == b.model_dump(exclude=skip)
    assert (a.usage.backend, a.usage.model) == (b.usage.backend, b.usage.model)
    assert (a.usage.input_tokens, a.usage.output_tokens) == (
        b.usage.input_tokens,
        b.usage.output_tokens,
    )


def test_exported_lazily_from_rag() -> None:
    assert "AsyncRAG" in rag.__all__
    assert rag.AsyncRAG is AsyncRAG


@pytest.mark.parametrize("mode", ["generative", "extractive"])
def test_same_results_as_rag(tmp_path: Path, mode: str) -> None:
    """ingest, retrieve, prepare, ask and ask_stream give what RAG gives on the same data."""
    docs = tmp_path / "docs"
    write_corpus(docs)
    sync = RAG(**{**parts(tmp_path / "s"), "answer_mode": mode})
    sync_report = sync.ingest(docs)
    q = f"What about {topic(3)}?"

    async def main() -> None:
        async with AsyncRAG(**{**parts(tmp_path / "a"), "answer_mode": mode}) as r:
            report = await r.ingest(docs)
            assert report.model_dump(exclude={"seconds"}) == sync_report.model_dump(
                exclude={"seconds"}
            )
            hits = await r.retrieve(q, k=2)
            expected = sync.retrieve(q, k=2)
            assert [(h.chunk.id, h.score) for h in hits] == [
                (h.chunk.id, h.score) for h in expected
            ]
            assert (await r.prepare(q)).text == sync.prepare(q).text
            same(await r.ask(q), sync.ask(q))
            pieces = [p async for p in r.ask_stream(q)]
            expected_pieces = list(sync.ask_stream(q))
            assert pieces[:-1] == expected_pieces[:-1]
            assert isinstance(pieces[-1], Answer) and isinstance(expected_pieces[-1], Answer)
            same(pieces[-1], expected_pieces[-1])
            if mode == "generative":
                assert "".join(str(p) for p in pieces[:-1]).startswith(
                    f"Echo: What about {topic(3)}"
                )
            costs, expected_costs = await r.costs("1d"), sync.costs("1d")
            assert costs.total.calls == expected_costs.total.calls == 2  # ask + ask_stream
            assert costs.total.input_tokens == expected_costs.total.input_tokens

    asyncio.run(main())
    sync.close()


def test_concurrent_asks_keep_their_own_sources(tmp_path: Path) -> None:
    """16 asks and 16 streams at once through asyncio.gather: each answer cites its own
    topic's documents and echoes its own question."""
    docs = tmp_path / "docs"
    sources = write_corpus(docs)

    async def main() -> None:
        async with AsyncRAG(**parts(tmp_path), async_workers=4) as r:
            await r.ingest(docs)

            async def streamed(i: int) -> Answer:
                last: Any = None
                async for piece in r.ask_stream(f"About {topic(i)}?"):
                    last = piece
                assert isinstance(last, Answer)
                return last

            asks = [r.ask(f"About {topic(i)}?") for i in range(TOPICS)]
            streams = [streamed(i) for i in range(TOPICS)]
            answers = await asyncio.gather(*asks, *streams)
        for n, answer in enumerate(answers):
            i = n % TOPICS
            assert answer.text.startswith(f"Echo: About {topic(i)}?")
            assert {c.source for c in answer.citations} == sources[i]

    asyncio.run(main())


def test_history_passes_through(tmp_path: Path) -> None:
    """``history`` on retrieve, prepare, ask and ask_stream gives what RAG gives: the follow-up
    retrieved with the previous question, the turns in the prompt; ``ask_stream`` given a
    retrieval packs its hits."""
    docs = tmp_path / "docs"
    sources = write_corpus(docs)
    history = [("user", f"What does {topic(5)} say?"), ("assistant", "It matters [1].")]
    follow = "and what else?"
    sync = RAG(**parts(tmp_path / "s"))
    sync.ingest(docs)

    async def main() -> None:
        async with AsyncRAG(**parts(tmp_path / "a")) as r:
            await r.ingest(docs)
            found = await r.retrieve(follow, history=history)
            assert {h.chunk.source for h in found} == sources[5]
            assert found.dense_query == f"{history[0][1]} {follow}"
            assert (await r.prepare(follow, history=history)).text == sync.prepare(
                follow, history=history
            ).text
            answer = await r.ask(follow, history=history)
            same(answer, sync.ask(follow, history=history))
            assert {c.source for c in answer.citations} == sources[5]
            assert "<assistant>\nIt matters [1]." in answer.prompt
            pieces = [p async for p in r.ask_stream(follow, history=history, retrieval=found)]
            assert isinstance(pieces[-1], Answer)
            assert [c.chunk_id for c in pieces[-1].citations] == [
                c.chunk_id for c in answer.citations
            ]

    asyncio.run(main())
    sync.close()


@pytest.mark.parametrize("mode", ["generative", "extractive"])
def test_a_prepared_prompt_is_sent_as_it_is(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ask and ask_stream given ``prepare``'s prompt answer as without it, pack nothing again
    and report its retrieval time; a prompt for another question is a ValueError; a given
    retrieval's seconds are the answer's retrieval time."""
    docs = tmp_path / "docs"
    write_corpus(docs)
    q = f"What about {topic(3)}?"
    packed: list[str] = []
    real = QueryPipeline.prepare

    def prepare(self: QueryPipeline, question: str, hits: Any, **kw: Any) -> PreparedPrompt:
        packed.append(question)
        return real(self, question, hits, **kw)

    async def main() -> None:
        async with AsyncRAG(**{**parts(tmp_path), "answer_mode": mode}) as r:
            await r.ingest(docs)
            expected = await r.ask(q)
            expected_deltas = [p async for p in r.ask_stream(q)][:-1]
            prepared = await r.prepare(q)
            assert prepared.retrieval_seconds > 0
            monkeypatch.setattr(QueryPipeline, "prepare", prepare)
            answer = await r.ask(q, prepared=prepared)
            same(answer, expected)
            assert answer.retrieval_latency_s == prepared.retrieval_seconds
            pieces = [p async for p in r.ask_stream(q, prepared=prepared)]
            assert isinstance(pieces[-1], Answer) and pieces[:-1] == expected_deltas
            same(pieces[-1], expected)
            assert pieces[-1].retrieval_latency_s == prepared.retrieval_seconds
            assert packed == [], "a prepared prompt is not packed again"
            other = f"What about {topic(5)}?"
            with pytest.raises(ValueError, match=f"{re.escape(repr(q))}.*{re.escape(repr(other))}"):
                await r.ask(other, prepared=prepared)
            with pytest.raises(ValueError, match="not 'What about"):
                [p async for p in r.ask_stream(other, prepared=prepared)]
            found = await r.retrieve(q)
            assert found.seconds > 0
            assert (await r.ask(q, retrieval=found)).retrieval_latency_s == found.seconds
            final = [p async for p in r.ask_stream(q, retrieval=found)][-1]
            assert isinstance(final, Answer) and final.retrieval_latency_s == found.seconds

    asyncio.run(main())


class SlowStreamingLLM(ScriptedLLM):
    """Streams many words slowly under a lock (like llama.cpp's model lock) and records when
    its stream was closed and in which thread."""

    def __init__(self) -> None:
        super().__init__(["word " * 400])
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.stream_threads: set[str] = set()

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        with self.lock:
            self.stream_threads.add(threading.current_thread().name)
            try:
                for event in super().stream(messages, max_tokens=max_tokens):
                    time.sleep(0.005)
                    yield event
            finally:
                self.closed.set()


def test_early_stopped_stream_frees_the_model(tmp_path: Path) -> None:
    """A consumer that breaks after two deltas: the worker closes the sync stream (in its own
    thread), the model's lock is free, and the next ask runs; nothing is left running."""
    docs = tmp_path / "docs"
    write_corpus(docs)
    llm = SlowStreamingLLM()

    async def main() -> None:
        async with AsyncRAG(**parts(tmp_path, llm), async_workers=2) as r:
            await r.ingest(docs)
            stream = r.ask_stream(f"About {topic(1)}?")
            got = [await anext(stream), await anext(stream)]
            assert got == ["word ", "word "]
            await stream.aclose()
            assert llm.closed.is_set()
            assert not llm.lock.locked()
            assert all(name.startswith(WORKER_THREAD_PREFIX) for name in llm.stream_threads)

            # a break inside ``async for`` (closed when the generator is collected) also frees it
            llm.closed.clear()
            async for _ in r.ask_stream(f"About {topic(2)}?"):
                break
            for _ in range(200):
                if llm.closed.is_set():
                    break
                await asyncio.sleep(0.01)
            assert llm.closed.is_set()

            # and a cancelled consumer
            llm.closed.clear()

            async def consume() -> None:
                async with contextlib.aclosing(r.ask_stream(f"About {topic(4)}?")) as s:
                    async for _ in s:
                        pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert llm.closed.is_set()
            assert not llm.lock.locked()

            answer = await r.ask(f"About {topic(3)}?")
            assert answer.text.startswith("word")

    asyncio.run(main())


def test_aclose_stops_every_thread_and_refuses_later_calls(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_corpus(docs)
    before_workers = worker_threads()
    before_legs = {t for t in threading.enumerate() if t.name.startswith(LEG_THREAD_PREFIX)}

    async def main() -> AsyncRAG:
        r = AsyncRAG(**parts(tmp_path))
        await r.ingest(docs)
        await asyncio.gather(*(r.ask(f"About {topic(i)}?") for i in range(4)))
        assert worker_threads() - before_workers
        await r.aclose()
        await r.aclose()  # idempotent
        with pytest.raises(RuntimeError, match="closed"):
            await r.ask("anything")
        return r

    asyncio.run(main())
    assert not (worker_threads() - before_workers)
    # leg threads of other tests' RAGs (still open) are theirs, not this one's
    legs = {t for t in threading.enumerate() if t.name.startswith(LEG_THREAD_PREFIX)}
    assert not legs - before_legs


def test_async_twin_of_each_llm_kind(tmp_path: Path) -> None:
    """A sync-only LLM runs in the executor (``OffloadedLLM``); its async twin streams the same
    events as the sync stream."""
    from concurrent.futures import ThreadPoolExecutor

    llm = ScriptedLLM(["one two three"])
    with ThreadPoolExecutor(1) as pool:
        view = as_async(llm, pool)
        assert isinstance(view, OffloadedLLM)
        assert isinstance(view, AsyncLLM)
        messages = [Message(role="user", content="hi")]

        async def main() -> list[StreamEvent]:
            done = await view.acomplete(messages)
            assert done.text == "one two three"
            return [e async for e in view.astream(messages)]

        events = asyncio.run(main())
    assert [e.text for e in events[:-1]] == ["one ", "two ", "three"]
    final = events[-1].completion
    assert final is not None and final.text == "one two three"


def test_readme_async_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's "Async" example, run as written over fake parts (``AsyncRAG()`` there
    builds the real default stack, which other tests cover)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Async", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "pg.txt").write_text("Set store = 'pgvector' and pg_dsn to switch.\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        rag, "AsyncRAG", lambda: AsyncRAG(**{**parts(tmp_path), "answer_mode": "extractive"})
    )
    exec(compile(snippet, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "pgvector" in out and "extractive:rag" in out
