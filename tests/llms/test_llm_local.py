"""The local llama.cpp backend shared by threads: calls on one model run one at a time.

A fake ``llama_cpp.Llama`` (injected as the loaded model) checks the lock fast; the packaged
SmolLM2 checks that real concurrent calls neither crash nor mix their text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rag.errors import BackendError
from rag.llms.base import Message
from rag.llms.llamacpp import LlamaCppLLM

if TYPE_CHECKING:
    from collections.abc import Sequence


class FakeLlama:
    """Answers by echoing the question word by word; counts how many generations overlap."""

    def __init__(self, pause_s: float = 0.005) -> None:
        self.pause_s = pause_s
        self.active = 0
        self.most_active = 0
        self.n_tokens = 0
        self.closed_streams = 0
        self._count = threading.Lock()

    def reset(self) -> None:
        self.n_tokens = 0

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(range(len(text.split())))

    def _enter(self) -> None:
        with self._count:
            self.active += 1
            self.most_active = max(self.most_active, self.active)

    def _leave(self) -> None:
        with self._count:
            self.active -= 1

    def create_chat_completion(
        self, *, messages: list[dict[str, str]], stream: bool = False, **_: Any
    ) -> Any:
        words = messages[-1]["content"].split()
        if stream:
            return self._stream(words)
        self._enter()
        try:
            for _ in words:
                time.sleep(self.pause_s)
            self.n_tokens = 2 * len(words)
        finally:
            self._leave()
        return {
            "choices": [{"message": {"content": " ".join(words)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(words), "completion_tokens": len(words)},
        }

    def _stream(self, words: list[str]) -> Iterator[dict[str, Any]]:
        self._enter()
        try:
            for i, word in enumerate(words):
                time.sleep(self.pause_s)
                self.n_tokens = len(words) + i + 1
                piece = word if i == 0 else " " + word
                yield {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
            yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}
        finally:
            self.closed_streams += 1
            self._leave()


def fake_llm(tmp_path: Path, llama: FakeLlama) -> LlamaCppLLM:
    """A LlamaCppLLM whose loaded model is ``llama`` (the file only has to exist)."""
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    llm = LlamaCppLLM(gguf, n_ctx=4096, max_tokens=32)
    llm._llama = llama
    return llm


def ask(words: Sequence[str]) -> list[Message]:
    return [Message(role="user", content=" ".join(words))]


def test_one_generation_at_a_time_across_threads_and_instances(tmp_path: Path) -> None:
    """If this fails, two threads ran ``create_chat_completion`` on one Llama at once: check that
    ``complete`` and ``stream`` both hold ``model_lock(llama)`` around the whole generation, and
    that the lock belongs to the model, not to the LlamaCppLLM (two instances share it here)."""
    llama = FakeLlama()
    first, second = fake_llm(tmp_path, llama), fake_llm(tmp_path, llama)

    def run(i: int) -> tuple[str, str]:
        words = [f"q{i}w{j}" for j in range(6)]
        llm = first if i % 2 else second
        if i % 3 == 0:
            return " ".join(words), llm.complete(ask(words)).text
        events = list(llm.stream(ask(words)))
        streamed = "".join(e.text for e in events)
        final = events[-1].completion
        assert final is not None and final.text == streamed
        return " ".join(words), streamed

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(16)))
    assert llama.most_active == 1, "generations overlapped on one llama_cpp.Llama"
    for expected, got in results:
        assert got == expected, "an answer lost or mixed in another thread's text"
    assert llama.active == 0


def test_closing_a_stream_early_releases_the_model(tmp_path: Path) -> None:
    """If this fails, a stream abandoned after its first delta kept the model locked (or left
    llama's own generator open): ``stream`` must close the inner generator and leave the lock
    in its ``finally``/``with`` when the consumer closes it."""
    llama = FakeLlama(pause_s=0)
    llm = fake_llm(tmp_path, llama)
    events = llm.stream(ask(["a", "b", "c", "d"]))
    assert next(events).text == "a"
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(llm.complete, ask(["x", "y"]))
        time.sleep(0.1)
        assert not waiting.done(), "the stream in progress must hold the model"
        events.close()
        assert waiting.result(timeout=5).text == "x y"
    assert llama.closed_streams == 1 and llama.active == 0


def test_a_second_call_from_the_streaming_thread_is_an_error(tmp_path: Path) -> None:
    """If this fails, a call made while this thread's own stream holds the model either
    deadlocked (the test hangs) or ran inside the other generation. ``ModelLock.hold`` must
    refuse its owner with a BackendError that says to finish or close the stream."""
    llm = fake_llm(tmp_path, FakeLlama(pause_s=0))
    events = llm.stream(ask(["a", "b"]))
    next(events)
    with pytest.raises(BackendError, match="close that stream"):
        llm.complete(ask(["c"]))
    events.close()
    assert llm.complete(ask(["c"])).text == "c"


@pytest.mark.slow
def test_real_model_from_four_threads(local_llm: LlamaCppLLM) -> None:
    """The packaged SmolLM2 through llama.cpp, asked by 4 threads at once (2 streaming, 2 not).
    If this crashes or a text differs from the same question asked alone, calls are not
    serialised on the model (see the module docstring of ``rag.llms.llamacpp``)."""
    questions = [
        "What is the capital of France?",
        "Name three primary colors.",
        "What do bees make?",
        "How many legs does a spider have?",
    ]
    limit = 24  # short answers suffice: the check is that each is its own
    alone = {q: local_llm.complete(ask([q]), max_tokens=limit).text for q in questions}

    def run(i: int) -> str:
        messages = ask([questions[i]])
        if i % 2:
            return local_llm.complete(messages, max_tokens=limit).text
        events = list(local_llm.stream(messages, max_tokens=limit))
        final = events[-1].completion
        assert final is not None
        assert final.text == "".join(e.text for e in events).strip()
        assert final.usage.output_tokens > 0
        return final.text

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(run, range(4)))
    for question, answer in zip(questions, answers, strict=True):
        assert answer.strip(), f"empty answer to {question!r}"
        assert answer == alone[question], f"the answer to {question!r} changed under threads"


def test_real_model_answer_does_not_depend_on_earlier_calls(local_llm: LlamaCppLLM) -> None:
    """llama.cpp reuses the cached common prefix of the previous prompt (here the long system
    message) and evaluates only the rest, which shifts floating-point sums and can change the
    answer. Each call starts from an empty context, so a question asked first, after another
    question, and again gets one text."""
    system = Message(
        role="system",
        content="Answer from the sources below. "
        + " ".join(f"Source {i}: the sky is blue." for i in range(20)),
    )

    def ask_with(question: str) -> str:
        return local_llm.complete(
            [system, Message(role="user", content=question)], max_tokens=24
        ).text

    first = ask_with("What colour is the sky?")
    ask_with("Name three primary colors.")
    assert ask_with("What colour is the sky?") == first
    assert (
        local_llm.complete(
            [system, Message(role="user", content="What colour is the sky?")], max_tokens=24
        ).text
        == first
    )


def test_real_model_declares_its_size_and_auto_answers_extractively(
    local_llm: LlamaCppLLM, tmp_path: Path
) -> None:
    """The packaged SmolLM2-135M declares ~135M parameters (from the GGUF), below
    GENERATIVE_MIN_PARAMS, so ``answer_mode = auto`` picks extractive answers for it."""
    from rag import RAG
    from rag.llms.base import GENERATIVE_MIN_PARAMS, parameter_count_of
    from rag.stores.memory import MemoryStore
    from rag.testing import FakeEmbedder

    params = parameter_count_of(local_llm)
    assert params is not None and 100_000_000 < params < 200_000_000
    assert params < GENERATIVE_MIN_PARAMS
    r = RAG(store=MemoryStore("size"), embedder=FakeEmbedder(), llm=local_llm, data_dir=tmp_path)
    assert r.answer_mode == "extractive"
    forced = RAG(
        store=MemoryStore("size2"),
        embedder=FakeEmbedder(),
        llm=local_llm,
        data_dir=tmp_path,
        answer_mode="generative",
    )
    assert forced.answer_mode == "generative"


# --- CPUs with AMX (llama.cpp's AMX kernel crashes on the packaged model) ---


def test_cpu_has_amx_reads_the_flags(tmp_path: Path) -> None:
    from rag.llms.llamacpp import cpu_has_amx

    intel = tmp_path / "spr"
    intel.write_text("flags\t\t: fpu avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n")
    amd = tmp_path / "zen4"
    amd.write_text("flags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n")
    assert cpu_has_amx(intel)
    assert not cpu_has_amx(amd)
    assert not cpu_has_amx(tmp_path / "missing")


@pytest.mark.parametrize("amx", [True, False])
def test_models_load_without_extra_buffers_only_on_amx(
    monkeypatch: pytest.MonkeyPatch, amx: bool
) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from rag.llms import llamacpp

    monkeypatch.setattr(llamacpp, "cpu_has_amx", lambda: amx)
    with llamacpp._plain_cpu_buffers(llama_cpp):
        inside = llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts
    assert inside is (not amx)
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True
