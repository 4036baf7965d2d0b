"""The prompt keeps its stable parts first, so providers' prompt caches can keep them: system
prompt, earlier turns, sources, and the question last; the sources' end is declared for the
backends that mark cache breakpoints (Anthropic)."""

from __future__ import annotations

from pathlib import Path

from rag import RAG
from rag.chunking import TokenChunker
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM


def test_stable_parts_first_and_the_sources_end_declared(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "paris.md").write_text("# Paris\n\nParis is the capital of France.\n")
    embedder = FakeEmbedder()
    llm = ScriptedLLM(["Paris [1].", "Paris [1]."])
    r = RAG(
        store=MemoryStore("docs"),
        embedder=embedder,
        llm=llm,
        chunker=TokenChunker(embedder.tokenizer, 60, 10),
        data_dir=tmp_path / "data",
        answer_mode="generative",
    )
    r.ingest(docs)
    history = [("user", "What is the capital of France?"), ("assistant", "Paris [1].")]
    prepared = r.prepare("And how big is it?", history=history)
    roles = [m.role for m in prepared.messages]
    assert roles == ["system", "user", "assistant", "user"]
    final = prepared.messages[-1]
    stable = final.content[: final.stable_chars]
    assert stable.startswith("Sources:\n\n[1] ") and "Paris is the capital" in stable
    assert final.content[final.stable_chars :] == "\n\nQuestion: And how big is it?\nAnswer:"
    assert "stable_chars" not in final.model_dump(), "never sent as a message field"
    other = r.prepare("Which country is Paris in?").messages[-1]
    assert other.content[: other.stable_chars] == stable, "same sources, same cacheable prefix"
