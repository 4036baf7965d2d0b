"""One ``RAG`` shared by many threads: every answer is built from its own question's sources,
nothing raises, and the retriever's keyword-leg threads are gone after ``close()``.

First with fakes (memory store, the real in-process BM25 index, ``FakeEmbedder``, a
``ScriptedLLM`` that echoes its question), 16 threads x 20 rounds; then with the real default stack
(embedded Chroma, the ONNX embedder, the local llama.cpp model), 4 threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.api import RAG
from rag.chunking import TokenChunker
from rag.pipelines.grounding import strip_markers
from rag.pipelines.hybrid import LEG_THREAD_PREFIX
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM, echo_question
from rag.types import Answer

THREADS = 16
ROUNDS = 20
DOCS_PER_TOPIC = 4


def topic(i: int) -> str:
    """A made-up word only topic ``i``'s documents and question contain."""
    return f"zorblax{i}quen"


def question(i: int) -> str:
    return f"About {topic(i)}?"


def write_corpus(root: Path) -> dict[int, set[str]]:
    """``DOCS_PER_TOPIC`` distinct documents per topic; topic -> its source paths."""
    sources: dict[int, set[str]] = {}
    for i in range(THREADS):
        for j in range(DOCS_PER_TOPIC):
            path = root / f"t{i:02d}" / f"doc{j}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            # no word shared across topics; the topic word weighs most in each vector
            words = " ".join(f"w{i}x{j}y{n}" for n in range(3))
            path.write_text(f"{topic(i)} {topic(i)} {topic(i)} {words}\n")
            sources.setdefault(i, set()).add(str(path.absolute()))
    return sources


def make_rag(tmp_path: Path, **overrides: object) -> RAG:
    """Memory store, in-process BM25, hashing embedder, an LLM echoing its question."""
    embedder = FakeEmbedder(dimension=256)
    return RAG(
        store=MemoryStore("conc"),
        embedder=embedder,
        llm=ScriptedLLM(reply=echo_question),
        chunker=TokenChunker(embedder.tokenizer, 60, 10),
        data_dir=tmp_path / "data",
        top_k=DOCS_PER_TOPIC,
        check_answers=False,  # the echo is no grounded answer; this test is about sharing
        **overrides,  # type: ignore[arg-type]
    )


def leg_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(LEG_THREAD_PREFIX)}


def run_together(
    workers: int, rounds: int, work: Callable[[int, int], None]
) -> list[BaseException]:
    """``work(worker, round)`` on ``workers`` threads, all starting each round together;
    the exceptions raised, if any."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def loop(worker: int) -> None:
        for n in range(rounds):
            try:
                barrier.wait(timeout=120)
                work(worker, n)
            except BaseException as exc:  # collected; the test reports them
                with lock:
                    errors.append(exc)
                barrier.abort()
                return

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return errors


def stream_answer(r: RAG, q: str) -> tuple[str, Answer]:
    parts = list(r.ask_stream(q))
    final = parts[-1]
    assert isinstance(final, Answer)
    return "".join(p for p in parts if isinstance(p, str)), final


def test_one_rag_shared_by_16_threads_answers_each_from_its_own_sources(tmp_path: Path) -> None:
    """If a source of another question shows up, per-call state is shared between threads
    (a retrieval or prompt written onto the retriever or pipeline); if leg threads survive
    ``close()``, the retriever's pool is not shut down (or is not the retriever's)."""
    sources = write_corpus(tmp_path / "docs")
    before = leg_threads()
    r = make_rag(tmp_path, retrieval_mode="hybrid")
    report = r.ingest(tmp_path / "docs")
    assert report.ok and report.files_new == THREADS * DOCS_PER_TOPIC
    seen_retrievers: set[int] = set()
    seen_lock = threading.Lock()

    def ask(worker: int, n: int) -> None:
        q = question(worker)
        if (worker + n) % 2:
            streamed, answer = stream_answer(r, q)
            assert streamed == answer.text
        else:
            answer = r.ask(q)
        assert answer.question == q
        assert answer.text == f"Echo: {q} [1] [2]", "the text came from another prompt"
        assert f"Question: {q}\nAnswer:" in answer.prompt
        assert len(answer.citations) == DOCS_PER_TOPIC
        assert {c.source for c in answer.citations} == sources[worker]
        assert [c.number for c in answer.cited] == [1, 2]
        notes = [line for line in answer.prompt_notes if "retrieved:" in line]
        assert len(notes) == DOCS_PER_TOPIC and all("keyword #" in line for line in notes)
        hits = r.retrieve(q)
        assert hits.question == q and {h.chunk.source for h in hits} == sources[worker]
        assert [rank.chunk_id for rank in hits.ranks] == [h.chunk.id for h in hits]
        with seen_lock:
            seen_retrievers.add(id(r.retriever))

    errors = run_together(THREADS, ROUNDS, ask)
    assert not errors, errors[:3]
    assert len(seen_retrievers) == 1, "the retriever is built once and shared"
    assert leg_threads() - before, "hybrid queries ran their keyword legs on the pool"
    r.close()
    assert not leg_threads() - before, "the retriever's leg threads outlive close()"


def test_with_settings_shares_the_parts_and_owns_its_retriever(tmp_path: Path) -> None:
    """``with_settings`` must reuse the parent's store (with its keyword index), embedder and tokenizer (so models
    and indexes load once) but own its retriever: closing it must leave the parent usable,
    and a closed RAG builds a new retriever on its next query."""
    sources = write_corpus(tmp_path / "docs")
    before = leg_threads()
    base = make_rag(tmp_path)
    base.ingest(tmp_path / "docs")
    echo = ScriptedLLM(reply=echo_question)
    keyword = base.with_settings(
        base.settings.model_copy(update={"retrieval_mode": "keyword", "top_k": 2}), llm=echo
    )
    assert keyword.store is base.store and keyword.embedder is base.embedder
    assert keyword.keyword_tokenizer is base.keyword_tokenizer and keyword.llm is echo
    assert keyword.retriever is not base.retriever and keyword.retriever.mode == "keyword"
    hits = keyword.retrieve(question(3))
    assert len(hits) == 2 and {h.chunk.source for h in hits} <= sources[3]
    prepared = keyword.prepare(question(3))
    assert {c.source for c in prepared.citations} <= sources[3] and len(prepared.citations) == 2
    assert prepared.messages[-1].content.endswith(f"Question: {question(3)}\nAnswer:")
    assert prepared.notes[0].startswith("[1] retrieved: dense -, keyword #1")
    keyword.close()
    assert base.store.count() == THREADS * DOCS_PER_TOPIC, "the parent's store stays open"
    assert {h.chunk.source for h in base.retrieve(question(1))} == sources[1]
    assert {h.chunk.source for h in keyword.retrieve(question(2))} <= sources[2]
    base.close()
    assert not leg_threads() - before


# -- the real default stack ----------------------------------------------------------------

REAL_QUESTIONS = (
    "How do I switch to pgvector?",
    "What does rag log for every call?",
    "Which models are listed?",
    "How do I get started?",
)


def real_stack_run(data_dir: str, examples: str) -> None:
    """Ingest ``examples`` with the default stack, ask each of REAL_QUESTIONS alone, then on
    four threads at once (twice, one round streamed); print what came back as JSON."""
    import json

    def facts(answer: Answer, streamed: str | None = None) -> dict[str, object]:
        return {
            "question": answer.question,
            "text": answer.text,
            "streamed": answer.text if streamed is None else streamed,
            "chunk_ids": [c.chunk_id for c in answer.citations],
            "numbers": [c.number for c in answer.citations],
            "cited": [c.number for c in answer.cited],
            "prompt": answer.prompt,
            "backend": answer.usage.backend,
        }

    before = leg_threads()
    out: dict[str, object] = {}
    with RAG(
        data_dir=Path(data_dir),
        collection="conc",
        max_tokens=16,
        temperature=0.0,
        answer_mode="generative",  # the model must write (auto answers extractively)
    ) as r:
        report = r.ingest(examples)
        out["ingest_ok"], out["chunks_written"] = report.ok, report.chunks_written
        out["alone"] = {q: facts(r.ask(q)) for q in REAL_QUESTIONS}
        together: list[dict[str, object]] = []
        lock = threading.Lock()

        def ask(worker: int, n: int) -> None:
            q = REAL_QUESTIONS[worker]
            if n % 2:
                streamed, answer = stream_answer(r, q)
                got = facts(answer, streamed)
            else:
                got = facts(r.ask(q))
            with lock:
                together.append(got)

        errors = run_together(len(REAL_QUESTIONS), 2, ask)
        out["errors"] = [repr(e) for e in errors]
        out["together"] = together
    out["leg_threads_left"] = sorted(t.name for t in leg_threads() - before)
    print(json.dumps(out))


@pytest.mark.slow
@pytest.mark.integration
def test_default_stack_shared_by_4_threads(tmp_path: Path, examples_dir: Path) -> None:
    """Embedded Chroma + the default ONNX embedder + the local llama.cpp model, one RAG, four
    threads asking at once. Each answer must equal what the same question gets when asked
    alone (greedy decoding of a prompt evaluated from an empty context is deterministic; see
    "Determinism" in rag/llms/llamacpp.py), so text generated for another thread, or a
    model state garbled by concurrent calls, fails here.

    Needs the lock that serialises calls to one ``llama_cpp.Llama`` (rag/llms/llamacpp.py,
    issue #18): without it, concurrent generation on one model crashes the process
    (segmentation fault inside llama.cpp). That is why the run happens in a child process:
    a crash fails this test instead of killing the whole test session.
    """
    import json
    import subprocess
    import sys

    code = (
        "import sys; from test_concurrency import real_stack_run; "
        "real_stack_run(sys.argv[1], sys.argv[2])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "data"), str(examples_dir)],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (
        f"the child exited with {proc.returncode} (-11 = segmentation fault: calls to one "
        f"llama.cpp model are not serialised)\n{proc.stderr[-3000:]}"
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ingest_ok"] and out["chunks_written"] > 5
    assert not out["errors"], out["errors"]
    alone = out["alone"]
    for q in REAL_QUESTIONS:
        assert alone[q]["text"].strip() and alone[q]["backend"] == "local"
    assert len(out["together"]) == 2 * len(REAL_QUESTIONS)
    for got in out["together"]:
        q = got["question"]
        first = alone[q]
        assert f"Question: {q}\nAnswer:" in got["prompt"]
        assert got["chunk_ids"] == first["chunk_ids"], "the sources of another question"
        assert got["prompt"] == first["prompt"], "the prompt of another question"
        assert got["text"] == first["text"], "text generated for another prompt, or garbled"
        # the final text is the checked one: markers repaired (a marker that opened a line
        # moves to the end of the line before it), the words as streamed
        assert strip_markers(got["streamed"]).split() == strip_markers(got["text"]).split()
        assert set(got["cited"]) <= set(got["numbers"])
    assert out["leg_threads_left"] == [], "leg threads outlive close()"
