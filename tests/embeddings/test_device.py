"""#12 case 8: an embedding device torch cannot use is a ConfigError naming the setting and
the fix, not torch's AssertionError from deep inside its CUDA initialisation."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError


def test_unavailable_or_malformed_device_is_a_config_error() -> None:
    torch = pytest.importorskip("torch")
    from rag.embeddings.sentence_transformers import check_device

    check_device("cpu")
    if torch.cuda.is_available():  # pragma: no cover - CI has no GPU
        pytest.skip("this machine has CUDA")
    with pytest.raises(
        ConfigError, match=r"embed_device 'cuda' is not available.*embed_device = 'cpu'"
    ):
        check_device("cuda")
    with pytest.raises(ConfigError, match="is not a torch device"):
        check_device("gpu-please")


def test_rag_ask_with_cuda_device_exits_with_the_config_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():  # pragma: no cover
        pytest.skip("this machine has CUDA")
    from typer.testing import CliRunner

    from rag.cli import app

    monkeypatch.setenv("RAG_EMBED_DEVICE", "cuda")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.md").write_text("# A\n\nmarmot\n")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "c")])
    assert result.exit_code == 2, result.output
    assert "embed_device 'cuda' is not available" in result.output
    assert "Traceback" not in result.output
