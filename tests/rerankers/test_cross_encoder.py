"""CrossEncoderReranker with a tiny real cross-encoder built in the test (conftest): it loads
from a local directory only, runs the reranker contract, and orders hits exactly as the model
scores them. Bad paths are ConfigErrors that name the setting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.rerankers import CrossEncoderReranker, Reranker
from rag.testing.reranker_contract import QUESTION, TEXTS, RerankerContract, make_hits


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(tiny_cross_encoder, batch_size=4, max_length=64)


class TestCrossEncoderReranker(RerankerContract):
    @pytest.fixture
    def reranker(self, cross_encoder: CrossEncoderReranker) -> Reranker:
        return cross_encoder


def _model_logits(model_dir: Path, question: str, texts: list[str]) -> list[float]:
    """The relevance logit of each pair, computed with transformers directly."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    batch = tokenizer([question] * len(texts), texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return [float(x) for x in model(**batch).logits.reshape(-1)]


def test_order_and_scores_follow_the_model(
    cross_encoder: CrossEncoderReranker, tiny_cross_encoder: Path
) -> None:
    """The reranked order is the model's own ranking of the pairs, and each score its logit."""
    logits = _model_logits(tiny_cross_encoder, QUESTION, list(TEXTS))
    assert len({round(x, 4) for x in logits}) == len(TEXTS), "the test model must not tie"
    expected = sorted(range(len(TEXTS)), key=lambda i: -logits[i])
    out = cross_encoder.rerank(QUESTION, make_hits(), len(TEXTS))
    assert [h.chunk.id for h in out] == [f"c{i}" for i in expected]
    assert [h.score for h in out] == pytest.approx([logits[i] for i in expected], abs=1e-4)
    # and not the retrieval order it was given (make_hits scores fall with the index)
    assert expected != list(range(len(TEXTS)))
    assert cross_encoder.name == tiny_cross_encoder.name


def test_long_passages_are_truncated_to_max_length(cross_encoder: CrossEncoderReranker) -> None:
    """A passage longer than the model's 128 positions is cut at max_length, not an error."""
    long = " ".join(TEXTS * 30)
    out = cross_encoder.rerank(QUESTION, make_hits([long, TEXTS[0]]), 2)
    assert len(out) == 2


@pytest.mark.parametrize("kind", ["missing", "file", "no-config"])
def test_bad_path_is_a_config_error_naming_the_setting(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model"
    if kind == "file":
        path.write_text("not a model")
    elif kind == "no-config":
        path.mkdir()
        (path / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(ConfigError) as info:
        CrossEncoderReranker(path)
    message = str(info.value)
    assert "reranker_path" in message and str(path) in message
    assert "save_pretrained" in message and "unset it" in message


def test_multi_label_model_is_refused(tmp_path: Path, tiny_cross_encoder: Path) -> None:
    """An NLI-style model (3 labels) is not a relevance scorer: refused at construction."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_cross_encoder, num_labels=3, ignore_mismatched_sizes=True, local_files_only=True
    )
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_cross_encoder).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="3 labels"):
        CrossEncoderReranker(tmp_path)


def test_importing_rag_rerankers_loads_no_torch() -> None:
    import subprocess

    code = "import rag, rag.rerankers, rag.testing, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rag_reranks_with_the_model_at_reranker_path(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    """``reranker_path`` wires the cross-encoder behind the hybrid retriever: ``retrieve``,
    ``prepare`` and ``ask`` see the reranked hits (scores are the model's logits)."""
    from rag import RAG
    from rag.chunking import TokenChunker
    from rag.pipelines.rerank import RerankingRetriever
    from rag.stores.memory import MemoryStore
    from rag.testing import FakeEmbedder, ScriptedLLM

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(TEXTS):
        (docs / f"d{i}.md").write_text(f"{text}\n")
    embedder = FakeEmbedder()
    r = RAG(
        store=MemoryStore("docs"),
        embedder=embedder,
        llm=ScriptedLLM(["Use pgvector [1]."]),
        chunker=TokenChunker(embedder.tokenizer, 40, 5),
        data_dir=tmp_path / "data",
        reranker_path=tiny_cross_encoder,
        rerank_candidates=len(TEXTS),
        top_k=3,
    )
    with r:
        r.ingest(docs)
        assert isinstance(r.retriever, RerankingRetriever) and r.retriever.mode == "hybrid"
        found = r.retrieve(QUESTION)
        logits = _model_logits(tiny_cross_encoder, QUESTION, list(TEXTS))
        assert [h.score for h in found] == pytest.approx(sorted(logits, reverse=True)[:3], abs=1e-4)
        assert len(found.ranks) == 3
        answer = r.ask(QUESTION)
        cited = [c.chunk_id for c in answer.citations]
        assert cited[0] == found[0].chunk.id and set(cited) <= {h.chunk.id for h in found}
