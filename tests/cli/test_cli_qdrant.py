"""``rag ingest --store qdrant --qdrant-path DIR`` and ``rag ask`` end to end: the real CLI, the
packaged ONNX embedder, qdrant-client's local mode and the extractive answer (no model call)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from rag.cli import app

pytest.importorskip("qdrant_client")
pytestmark = [pytest.mark.slow, pytest.mark.integration]


def run_cli(*args: str, data_dir: Path, qdrant: Path) -> Result:
    return CliRunner().invoke(
        app,
        [*args, "--store", "qdrant", "--qdrant-path", str(qdrant), "--data-dir", str(data_dir)],
    )


def test_ingest_incremental_prune_and_ask_on_qdrant(tmp_path: Path, examples_dir: Path) -> None:
    docs, data, qdrant = tmp_path / "docs", tmp_path / "data", tmp_path / "qdrant"
    shutil.copytree(examples_dir, docs)

    first = run_cli("ingest", str(docs), "--collection", "exa", data_dir=data, qdrant=qdrant)
    assert first.exit_code == 0, first.output
    assert "6 new" in first.stdout and "embedded" in first.stdout
    assert (qdrant / "meta.json").exists() and (qdrant / "rag_keyword" / "exa.sqlite").exists()
    assert not (data / "chroma").exists()

    again = run_cli("ingest", str(docs), "--collection", "exa", data_dir=data, qdrant=qdrant)
    assert again.exit_code == 0, again.output
    assert "6 unchanged" in again.stdout and "0 embedded" in again.stdout

    asked = run_cli(
        "ask",
        "How do I switch to pgvector?",
        "--collection",
        "exa",
        "--json",
        data_dir=data,
        qdrant=qdrant,
    )
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["citations"][0]["path"].endswith("stores.md")
    assert answer["mode"] == "extractive" and answer["grounded"] == 1.0
    assert "--store pgvector" in answer["answer"]

    keyword = run_cli(
        "ask",
        "How do I switch to pgvector?",
        "--collection",
        "exa",
        "--mode",
        "keyword",
        "--json",
        data_dir=data,
        qdrant=qdrant,
    )
    assert keyword.exit_code == 0, keyword.output
    assert json.loads(keyword.stdout)["citations"][0]["path"].endswith("stores.md")

    (docs / "faq.txt").unlink()
    pruned = run_cli("ingest", str(docs), "--collection", "exa", data_dir=data, qdrant=qdrant)
    assert pruned.exit_code == 0, pruned.output
    assert "1 removed" in pruned.stdout and "5 unchanged" in pruned.stdout

    from rag.stores.qdrant import QdrantStore

    store = QdrantStore("exa", path=qdrant)
    try:
        assert sorted(Path(s).name for s in store.sources()) == sorted(
            p.name for p in docs.iterdir()
        )
        assert store.ids_for_source(str(docs / "faq.txt")) == set()
        assert store.keyword_count() == store.count() > 0
    finally:
        store.close()

    empty = run_cli("ask", "anything", "--collection", "nothing-here", data_dir=data, qdrant=qdrant)
    assert empty.exit_code == 2 and "rag ingest" in empty.stderr
