"""The ONNX Runtime embedder: same model as the torch path, exported once, int8 by default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embeddings import Embedder, SentenceTransformerEmbedder, make_embedder, packaged_model_path
from rag.embeddings_onnx import OnnxEmbedder, ensure_onnx, fingerprint
from rag.errors import ConfigError

pytestmark = pytest.mark.slow

TEXTS = [
    "Mitochondria are the powerhouse of the cell.",
    "hello world",
    "The tumour suppressor p53 regulates apoptosis after DNA damage in human fibroblasts, "
    "and its loss is associated with genomic instability in many cancers. " * 3,
    "Vitamin D supplementation did not reduce the incidence of fractures.",
    "대한민국의 수도는 서울이다.",
] * 7


def test_is_an_embedder_with_the_models_limits(onnx_embedder: OnnxEmbedder) -> None:
    assert isinstance(onnx_embedder, Embedder)
    assert onnx_embedder.dimension == 384
    assert onnx_embedder.max_tokens == 254  # max_seq_length 256 minus [CLS] and [SEP]
    assert onnx_embedder.tokenizer.count(["hello world"]) == [2]
    assert onnx_embedder.model_file.name == "model-int8.onnx"


def test_int8_vectors_match_the_torch_model(
    onnx_embedder: OnnxEmbedder, st_embedder: SentenceTransformerEmbedder
) -> None:
    ours = onnx_embedder.embed(TEXTS)
    ref = st_embedder.embed(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * ref).sum(axis=1)
    assert cosine.mean() > 0.99 and cosine.min() > 0.97, cosine


def test_float32_export_is_the_same_model(
    model_cache_dir: Path, st_embedder: SentenceTransformerEmbedder
) -> None:
    fp32 = OnnxEmbedder(packaged_model_path(), cache_dir=model_cache_dir, quantize=False)
    cosine = (fp32.embed(TEXTS) * st_embedder.embed(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.9999


def test_a_texts_vector_does_not_depend_on_its_neighbours(model_cache_dir: Path) -> None:
    parallel = OnnxEmbedder(packaged_model_path(), cache_dir=model_cache_dir, threads=3)
    together = parallel.embed(TEXTS)
    one_by_one = np.concatenate([parallel.embed([t]) for t in TEXTS[:5]])
    assert together.shape == (len(TEXTS), 384)
    # order kept across workers, and the same text gets the same vector alone or in a crowd
    # (batched dynamic int8 would scale activations over the whole batch)
    assert np.array_equal(together[:5], one_by_one)
    assert np.array_equal(together[:5], together[5:10])
    assert parallel.embed([]).shape == (0, 384)


def test_the_export_is_cached_and_reused(model_cache_dir: Path) -> None:
    target = ensure_onnx(packaged_model_path(), model_cache_dir, quantize=True)
    before = target.stat().st_mtime_ns
    assert ensure_onnx(packaged_model_path(), model_cache_dir, quantize=True) == target
    assert target.stat().st_mtime_ns == before
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def _model_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "mini"
    shutil.copytree(packaged_model_path(), copy)
    return copy


def test_a_changed_model_gets_a_new_export(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    first = fingerprint(model, quantize=True)
    config = json.loads((model / "config.json").read_text())
    config["_note"] = "edited"
    (model / "config.json").write_text(json.dumps(config))
    assert fingerprint(model, quantize=True) != first
    assert fingerprint(model, quantize=True) != fingerprint(model, quantize=False)


def test_concurrent_first_runs_build_one_usable_file(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    cache = tmp_path / "cache"
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(ensure_onnx(model, cache, quantize=False))
        except BaseException as exc:  # pragma: no cover - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    files = sorted(p.name for p in results[0].parent.iterdir())
    assert files == ["model.onnx"]
    vectors = OnnxEmbedder(model, cache_dir=cache, quantize=False).embed(["hello world"])
    assert vectors.shape == (1, 384)


def test_unsupported_modules_name_the_setting(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    modules = json.loads((model / "modules.json").read_text())
    modules.append({"idx": 9, "name": "9", "path": "9_Dense", "type": "x.models.Dense"})
    (model / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="embed_backend = 'torch'"):
        OnnxEmbedder(model, cache_dir=tmp_path / "cache")


def test_missing_tokenizer_json_names_the_setting(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match=r"tokenizer\.json"):
        OnnxEmbedder(model, cache_dir=tmp_path / "cache")


def test_an_unwritable_cache_names_the_setting(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        cache = blocker / "cache"
    else:  # pragma: no cover - CI runs as root here
        cache = Path("/proc/rag-cache")
    with pytest.raises(ConfigError, match="RAG_CACHE_DIR"):
        ensure_onnx(packaged_model_path(), cache, quantize=True)


def test_settings_choose_the_backend(model_cache_dir: Path) -> None:
    onnx = make_embedder(Settings(cache_dir=model_cache_dir))
    assert isinstance(onnx, OnnxEmbedder) and onnx.variant == "onnx-int8"
    plain = make_embedder(Settings(cache_dir=model_cache_dir, embed_backend="onnx"))
    assert isinstance(plain, OnnxEmbedder) and plain.variant == "onnx"
    torch_path = make_embedder(Settings(embed_backend="torch"))
    assert isinstance(torch_path, SentenceTransformerEmbedder)


def test_the_process_that_embeds_never_imports_torch(tmp_path: Path) -> None:
    """The export (torch, transformers) runs in a child process, so even the first run with
    an empty cache keeps torch out of the embedding process; the second just loads the file."""
    code = (
        "import sys; from rag.embeddings import packaged_model_path;"
        "from rag.embeddings_onnx import OnnxEmbedder;"
        f"e = OnnxEmbedder(packaged_model_path(), cache_dir={str(tmp_path / 'cache')!r});"
        "e.embed(['a question']);"
        "print('torch' in sys.modules, 'transformers' in sys.modules, e.model_file.exists())"
    )
    for _ in range(2):  # cold cache, then warm
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
        )
        assert out.stdout.split() == ["False", "False", "True"]


def test_export_errors_from_the_child_are_raised_here(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ConfigError, match="embed_backend = 'torch'"):
        ensure_onnx(model, tmp_path / "cache", quantize=True)
    assert not list((tmp_path / "cache").rglob("*.onnx"))


def test_a_first_run_chunks_while_the_model_is_exported(tmp_path: Path) -> None:
    """The tokenizer and limits are there at once; the export (seconds) runs in the
    background and the first embedding waits for it."""
    e = OnnxEmbedder(packaged_model_path(), cache_dir=tmp_path / "cache")
    exporting = [t for t in threading.enumerate() if t.name == "rag-onnx-export"]
    assert exporting, "a cold cache starts the export in the background"
    assert e.tokenizer.count(["hello world"]) == [2] and e.dimension == 384
    assert e.embed(["hello world"]).shape == (1, 384)
    assert e.model_file.exists() and not exporting[0].is_alive()


def test_an_export_error_is_raised_by_the_first_embedding(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "model.safetensors").write_bytes(b"not weights")
    e = OnnxEmbedder(model, cache_dir=tmp_path / "cache")  # chunking can start
    with pytest.raises(ConfigError, match="embed_backend = 'torch'"):
        e.embed(["hello"])
    with pytest.raises(ConfigError, match="embed_backend = 'torch'"):
        e.embed(["hello"])  # and again, not a hang or another error
