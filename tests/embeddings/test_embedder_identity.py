"""The identity of an embedder: recorded with each ingested source, checked before a query."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from rag.api import RAG
from rag.config import Settings
from rag.embeddings import (
    EmbedderIdentity,
    check_compatible,
    identity_of,
    model_languages,
    packaged_model_path,
)
from rag.errors import CollectionNotFoundError, EmbedderMismatchError, EmbedderMismatchWarning
from rag.stores.base import SourceRecord
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM

ONNX = EmbedderIdentity("all-MiniLM-L6-v2", "onnx", "s8-reduced", "onnxruntime 1.23.2", "x86-64")


def test_the_same_identity_is_compatible() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either
        assert check_compatible([ONNX.key(), ONNX.key(), ""], ONNX, "docs") == ONNX
        assert check_compatible([], ONNX, "docs") == ONNX


def test_another_runtime_version_is_compatible() -> None:
    newer = EmbedderIdentity(ONNX.model, ONNX.backend, ONNX.scheme, "onnxruntime 9.9", ONNX.isa)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_compatible([ONNX.key()], newer, "docs") == newer


def test_another_scheme_of_the_same_model_is_a_warning_naming_both() -> None:
    torch = EmbedderIdentity("all-MiniLM-L6-v2", "torch", "fp32", "torch 2.13.0", "cpu")
    with pytest.warns(EmbedderMismatchWarning) as caught:
        assert check_compatible([ONNX.key(), torch.key()], ONNX, "docs") == ONNX
    message = str(caught[0].message)
    assert "collection 'docs'" in message and "all-MiniLM-L6-v2 on torch" in message
    assert "embed_backend" in message


def test_another_model_is_refused_with_the_fix() -> None:
    other = EmbedderIdentity("bge-small-en", "onnx", "s8-reduced")
    with pytest.raises(EmbedderMismatchError, match=r"bge-small-en.*embed_model.*--collection"):
        check_compatible([other.key()], ONNX, "docs")


def test_an_embedder_without_identity_is_named_by_its_name() -> None:
    assert identity_of(FakeEmbedder(32)) == EmbedderIdentity("fake-32")
    assert EmbedderIdentity.parse("just-a-name") == EmbedderIdentity("just-a-name")


def _rag(tmp_path: Path, store: MemoryStore) -> RAG:
    settings = Settings(data_dir=tmp_path, store="memory", retrieval_mode="dense")
    return RAG(settings, store=store, embedder=FakeEmbedder(32), llm=ScriptedLLM())


def test_a_query_with_another_model_is_refused(tmp_path: Path) -> None:
    store = MemoryStore("docs")
    store.set_source(SourceRecord("/d/a.md", "h", 1, 1.0, ONNX.key()))
    with pytest.raises(EmbedderMismatchError, match="all-MiniLM-L6-v2"):
        _rag(tmp_path, store).retrieve("anything")


def test_a_query_with_another_backend_warns(tmp_path: Path) -> None:
    store = MemoryStore("docs")
    other = EmbedderIdentity("fake-32", "onnx", "s8")
    store.set_source(SourceRecord("/d/a.md", "h", 1, 1.0, other.key()))
    r = _rag(tmp_path, store)
    # the store holds no chunk: the warning comes first, then the empty collection's error
    with (
        pytest.warns(EmbedderMismatchWarning, match="fake-32 on onnx"),
        pytest.raises(CollectionNotFoundError),
    ):
        r.retrieve("anything")


def test_ingest_records_the_identity_and_refuses_another_model(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nAlpha beta gamma.\n", encoding="utf-8")
    store = MemoryStore("docs")
    r = _rag(tmp_path, store)
    r.ingest(docs)
    assert {rec.embedder for rec in store.sources().values()} == {"fake-32|custom|||"}
    (docs / "b.md").write_text("# B\n\nDelta epsilon.\n", encoding="utf-8")
    other = RAG(r.settings, store=store, embedder=FakeEmbedder(32, max_tokens=128))
    other._embedder.name = "another-model"  # type: ignore[union-attr]
    with pytest.raises(EmbedderMismatchError, match="another-model"):
        other.ingest(docs)
    assert set(store.sources()) == {str((docs / "a.md").absolute())}, "nothing was written"


@pytest.mark.parametrize(
    ("front", "want"),
    [
        ("language: en", {"en"}),
        ("language:\n- en\n- ko", {"en", "ko"}),
        ("language: [en, 'ko']", {"en", "ko"}),
        ("language: multilingual", None),
        ("license: apache-2.0", None),
    ],
)
def test_model_languages_from_the_model_card(
    tmp_path: Path, front: str, want: set[str] | None
) -> None:
    (tmp_path / "README.md").write_text(f"---\n{front}\ntags:\n- x\n---\n# card\n")
    got = model_languages(tmp_path)
    assert got == (frozenset(want) if want is not None else None)


def test_the_packaged_model_declares_english() -> None:
    assert model_languages(packaged_model_path()) == frozenset({"en"})
    assert model_languages(Path("/nonexistent")) is None
