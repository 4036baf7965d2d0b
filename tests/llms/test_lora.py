"""LoRA adapters on the real llama.cpp backend: the packaged SmolLM2 GGUF and adapter GGUFs
built here with the ``gguf`` package in llama.cpp's convert_lora_to_gguf.py layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.costs.calllog import CallLog
from rag.errors import ConfigError
from rag.llms import make_llm
from rag.llms.base import Message
from rag.llms.llamacpp import LlamaCppLLM, packaged_gguf_path

gguf = pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")

RANK = 4
# ggml shapes [n_in, n_out] of the SmolLM2-135M weights adapted below
TARGETS = {
    f"blk.{i}.attn_{w}.weight": (576, 576 if w == "q" else 192) for i in range(4) for w in "qv"
}
MESSAGES = [
    Message(role="system", content="You are a helpful assistant."),
    Message(role="user", content="Name three colours."),
]


def write_adapter(
    path: Path,
    *,
    arch: str = "llama",
    targets: dict[str, tuple[int, int]] = TARGETS,
    adapter_type: str = "lora",
) -> Path:
    """A LoRA GGUF: lora_a is ggml [n_in, rank] (numpy (rank, n_in)), lora_b [rank, n_out]."""
    rng = np.random.default_rng(7)
    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, adapter_type)
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(RANK))
    for name, (n_in, n_out) in targets.items():
        a = rng.normal(0, 0.5, (RANK, n_in)).astype(np.float32)
        b = rng.normal(0, 0.5, (n_out, RANK)).astype(np.float32)
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_adapter(tmp_path_factory.mktemp("lora") / "colours-lora.gguf")


def local(**kw: object) -> LlamaCppLLM:
    return LlamaCppLLM(n_ctx=512, max_tokens=16, temperature=0.0, **kw)  # type: ignore[arg-type]


def test_scale_zero_is_the_base_model_and_scale_one_is_not(adapter: Path, tmp_path: Path) -> None:
    base = local().complete(MESSAGES)
    zero = local(lora_path=adapter, lora_scale=0.0).complete(MESSAGES)
    one = local(lora_path=adapter, lora_scale=1.0).complete(MESSAGES)
    assert base.text, "the base model answers"
    assert zero.text == base.text, "scale 0 adds nothing to the weights"
    assert one.text != base.text, "scale 1 changes the weights, so the answer"

    assert base.usage.adapter is None
    sha = re.fullmatch(r"colours-lora\.gguf sha256:([0-9a-f]{12}) scale 1", one.usage.adapter or "")
    assert sha, one.usage.adapter
    assert zero.usage.adapter == f"colours-lora.gguf sha256:{sha.group(1)} scale 0"
    assert one.usage.model == base.usage.model, "the model stays the base; the adapter is apart"
    assert (one.usage.output_tokens_per_s or 0) > 0

    log = CallLog(tmp_path / "calls.db")
    log.record(base.usage)
    log.record(one.usage)
    assert [r.adapter for r in log.calls()] == [None, one.usage.adapter]
    rows = log.summary().rows
    assert [r.adapter for r in rows] == [None, one.usage.adapter], "one row per model + adapter"
    assert all(r.p50_output_tokens_per_s for r in rows)


def test_the_setting_and_the_stream_carry_the_adapter(adapter: Path) -> None:
    settings = Settings(lora_path=adapter, lora_scale=0.5, n_ctx=512, max_tokens=8)
    llm = make_llm("local", settings)
    assert isinstance(llm, LlamaCppLLM) and llm.lora_scale == 0.5
    events = list(llm.stream(MESSAGES))
    done = events[-1].completion
    assert done is not None and done.usage.adapter and done.usage.adapter.endswith("scale 0.5")
    assert done.usage.time_to_first_token_s is not None
    assert 0 < done.usage.time_to_first_token_s <= done.usage.latency_s


def test_lora_on_a_hosted_backend_is_refused(adapter: Path) -> None:
    with pytest.raises(ConfigError, match="local llama\\.cpp model only"):
        make_llm("openai:gpt-4o-mini", Settings(lora_path=adapter))


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        local(lora_path=path)
    message = str(info.value)
    assert str(path) in message, "the message names the adapter file"
    assert "lora_path" in message
    return message


def test_an_adapter_for_another_base_is_refused_before_llama_cpp(tmp_path: Path) -> None:
    wrong_shape = {"blk.0.attn_k.weight": (576, 576)}  # SmolLM2's attn_k is [576, 192]
    message = refused(write_adapter(tmp_path / "bigger.gguf", targets=wrong_shape))
    assert "does not fit the base model" in message and "blk.0.attn_k.weight" in message

    message = refused(write_adapter(tmp_path / "qwen.gguf", arch="qwen2"))
    assert "architecture 'qwen2'" in message and "'llama'" in message

    missing = {"blk.99.attn_q.weight": (576, 576)}
    assert "lacks" in refused(write_adapter(tmp_path / "deep.gguf", targets=missing))


def test_a_file_that_is_no_lora_adapter_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    assert "cannot be read as GGUF" in refused(junk)
    assert "is not a LoRA adapter" in refused(packaged_gguf_path())
    assert "does not exist" in refused(tmp_path / "missing.gguf")
    control = write_adapter(tmp_path / "cvec.gguf", adapter_type="control_vector")
    assert "is not a LoRA adapter" in refused(control)


def test_rag_chat_takes_the_adapter_and_names_it(
    adapter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "colours.md").write_text("# Colours\n\nRed, green and blue are colours.\n")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs)]).exit_code == 0
    args = ["chat", "--answer-mode", "generative", "--lora-scale", "0.5", "--lora"]
    out = runner.invoke(app, [*args, str(adapter)], input="Name three colours.\n/exit\n")
    assert out.exit_code == 0, out.output
    assert "colours-lora.gguf sha256:" in out.output and "scale 0.5" in out.output

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    bad = runner.invoke(app, [*args, str(junk)], input="Name three colours.\n/exit\n")
    assert bad.exit_code != 0
    assert str(junk) in bad.output and "lora_path" in bad.output
