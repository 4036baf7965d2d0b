"""Exporting a sentence-transformers model to ONNX once, and quantizing its weights.

The export runs torch's exporter on the Transformer module (eager attention: 15% faster in
onnxruntime than the SDPA graph) in a child process, and is cached under
``cache_dir/onnx/<model>-<fingerprint>/``, written atomically, so concurrent first runs and a
crash mid-export leave a usable cache. The fingerprint covers the weights file (size, mtime),
the config, the export format, the quantization scheme and the onnxruntime version.

Quantization schemes (``SCHEMES``): dynamic quantization of the MatMul weights, per output
channel, with activations quantized to uint8 per run. Which integer kernel onnxruntime runs
depends on the CPU: with AVX-512 VNNI or AVX-VNNI, u8 x s8 products accumulate in 32 bits; on
AVX2 (and AVX-512 without VNNI) the u8 x s8 kernel adds pairs of products in saturating 16 bits
(``vpmaddubsw``), so full-range int8 weights (up to 127 x 255 x 2 > 32767) clip there: mean
cosine to torch fell from 0.995 to 0.986 on an AVX2-only EPYC. ``s8-reduced`` keeps weights in
7 bits (-64..63): a pair of products stays under 32767, no kernel clips, and every x86-64 CPU
meets the same accuracy bar. Vectors still differ very slightly between CPUs (min cosine 0.997
between AVX2 and AVX-512 VNNI): float ops before each dynamic activation quantization round
differently. ``bench/quantization.py`` measures each scheme (cosine to torch, retrieval, speed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag._lazy import package_version, require
from rag.errors import ConfigError, RagError

_EXPORT_VERSION = "3"
"""Bump when the exported graph or quantization changes, so caches are rebuilt."""
_BUILD_LOCK = threading.RLock()
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Scheme:
    """How the exported weights are stored, and on which CPUs it meets the accuracy bar."""

    name: str
    weight_type: str | None
    """onnxruntime ``QuantType`` member name (None: float32, not quantized)."""
    reduce_range: bool = False
    isa: str = "x86-64"
    """CPUs on which the scheme meets the accuracy bar (``x86-64``: every one)."""

    @property
    def file_name(self) -> str:
        return "model.onnx" if self.weight_type is None else f"model-{self.name}.onnx"


SCHEMES: dict[str, Scheme] = {
    "fp32": Scheme("fp32", None),
    # the default int8: 7-bit weights, no saturation in any x86 kernel (see module doc)
    "s8-reduced": Scheme("s8-reduced", "QInt8", reduce_range=True),
    # full-range int8 weights: accurate only where u8 x s8 accumulates in 32 bits (VNNI)
    "s8": Scheme("s8", "QInt8", isa="avx512-vnni|avx-vnni"),
    # uint8 weights: u8 x u8 kernels widen to 16 bits before multiplying (no saturation)
    "u8": Scheme("u8", "QUInt8"),
}
DEFAULT_INT8 = "s8-reduced"


def scheme(name: str | bool) -> Scheme:
    """The scheme called ``name`` (True: the default int8 one, False: float32)."""
    key = (DEFAULT_INT8 if name else "fp32") if isinstance(name, bool) else name
    if key not in SCHEMES:
        raise ConfigError(
            f"unknown ONNX quantization scheme {key!r}; use one of {', '.join(SCHEMES)}"
        )
    return SCHEMES[key]


def cpu_features() -> str:
    """The x86 features that choose onnxruntime's integer kernels, as CPUID reports them to
    this process (numpy's detection: right under an emulator too, unlike /proc/cpuinfo)."""
    import importlib

    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy < 2
        umath = importlib.import_module("numpy.core._multiarray_umath")
    found: dict[str, bool] = umath.__cpu_features__
    wanted = ("AVX2", "AVX512F", "AVX512BW", "AVX512VNNI", "AVX512_SPR")
    return " ".join(f for f in wanted if found.get(f)) or "no AVX2"


def ort_version() -> str:
    """The installed onnxruntime's version, without importing it."""
    return package_version("onnxruntime")


def fingerprint(model_dir: Path, quantize: bool | str) -> str:
    """Identifies an export: weights (size, mtime), config, export format, quantization
    scheme and onnxruntime version (its quantizer wrote the file)."""
    s = scheme(quantize)
    key = f"{_EXPORT_VERSION}|{s.name}|{s.reduce_range}|{ort_version()}|{model_dir.resolve()}"
    h = hashlib.sha256(key.encode())
    for name in (*_WEIGHT_FILES, "config.json", "tokenizer.json"):
        f = model_dir / name
        if f.exists():
            st = f.stat()
            h.update(f"{name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _target(model_dir: Path, cache_dir: Path, quantize: bool | str) -> Path:
    name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
    folder = cache_dir / "onnx" / f"{name}-{fingerprint(model_dir, quantize)}"
    return folder / scheme(quantize).file_name


def cached_onnx(model_dir: Path, cache_dir: Path, *, quantize: bool | str) -> Path | None:
    """The cached ONNX file of ``model_dir`` if it was exported already."""
    target = _target(model_dir, cache_dir, quantize)
    return target if target.exists() else None


def ensure_onnx(
    model_dir: Path, cache_dir: Path, *, quantize: bool | str, in_process: bool = False
) -> Path:
    """The cached ONNX file of ``model_dir``, exported (and quantized) first if missing.

    The export runs in a child process unless ``in_process``: it needs torch and
    transformers, which would otherwise stay loaded (about 500 MB) in a process that then
    never uses them."""
    target = _target(model_dir, cache_dir, quantize)
    folder = target.parent
    if target.exists():
        return target
    with _BUILD_LOCK:  # torch's exporter is not re-entrant; other processes: see os.replace
        if target.exists():
            return target
        if not in_process:
            _build_in_child(model_dir, cache_dir, quantize)
            if target.exists():
                return target
        return _build(model_dir, cache_dir, folder, target, quantize)


def _build_in_child(model_dir: Path, cache_dir: Path, quantize: bool | str) -> None:
    """Run ``python -m rag.embeddings.export`` to build the export; its errors are raised here."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "rag.embeddings.export", str(model_dir), str(cache_dir)]
    done = subprocess.run(
        [*cmd, scheme(quantize).name],
        capture_output=True,
        text=True,
        # its own copy: this may run in a background thread while another changes os.environ,
        # and the child must not read the environment block as it is being reallocated
        env=dict(os.environ),
    )
    if done.returncode == 0:
        return
    lines = done.stderr.strip().splitlines()
    message = next((ln[len(_ERROR_MARK) :] for ln in lines if ln.startswith(_ERROR_MARK)), None)
    if message is not None:
        raise ConfigError(message)
    raise ConfigError(
        f"exporting the embedding model {str(model_dir)!r} to ONNX failed "
        f"({' / '.join(lines[-3:]) or f'exit code {done.returncode}'}); "
        "set embed_backend = 'torch' (RAG_EMBED_BACKEND=torch) to run it without ONNX"
    )


_ERROR_MARK = "rag-export-error: "


def _build(
    model_dir: Path, cache_dir: Path, folder: Path, target: Path, quantize: bool | str
) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the model cache {str(folder)!r} ({exc.strerror}); set cache_dir "
            "(RAG_CACHE_DIR) to a writable directory"
        ) from None
    tmp = folder / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    src = tmp.with_suffix(".src.onnx")  # this process's own name for the float32 input
    try:
        chosen = scheme(quantize)
        if chosen.weight_type is not None:
            fp32 = ensure_onnx(model_dir, cache_dir, quantize=False, in_process=True)
            _link_or_copy(fp32, src)
            _quantize(src, tmp, chosen)
        else:
            _export(model_dir, tmp)
        os.replace(tmp, target)  # atomic: a reader sees no file or a whole one
    finally:
        tmp.unlink(missing_ok=True)
        src.unlink(missing_ok=True)
    return target


def _link_or_copy(source: Path, dest: Path) -> None:
    """``source`` as ``dest`` (a hard link, or a copy where links fail), for quantizing under
    a name of this process's own: onnxruntime's quantizer writes a shape-inferred copy beside
    its input (``<stem>-inferred``) and deletes it, so two processes quantizing the shared file
    would read each other's half-written or deleted copy."""
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _export(model_dir: Path, out: Path) -> None:
    """torch → ONNX (opset 17, dynamic batch and sequence axes) of the Transformer module."""
    import logging
    import warnings

    torch = require("torch", "local", "exporting the embedding model to ONNX")
    require("onnx", "local", "exporting the embedding model to ONNX")
    transformers = require("transformers", "local", "exporting the embedding model to ONNX")
    try:
        # the eager attention graph runs about 15% faster in onnxruntime than the SDPA one
        # (whose mask handling exports as extra ops), at the same accuracy
        model = transformers.AutoModel.from_pretrained(
            str(model_dir), local_files_only=True, attn_implementation="eager"
        ).eval()
    except (TypeError, ValueError):  # an architecture without the eager choice
        model = transformers.AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        model = model.eval()
    type_vocab = int(getattr(model.config, "type_vocab_size", 0) or 0)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if type_vocab > 0 else [])

    class Wrapper(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    dummy = (ids, (ids > 0).long(), torch.zeros_like(ids))[: len(names)]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            Wrapper(model),
            dummy,
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _quantize(fp32: Path, out: Path, chosen: Scheme) -> None:
    """Dynamic quantization of the MatMul weights, per channel (schemes: module doc)."""
    require("onnx", "local", "quantizing the embedding model")
    quant = require("onnxruntime.quantization", "local", "quantizing the embedding model")
    quant.quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=getattr(quant.QuantType, str(chosen.weight_type)),
        per_channel=True,
        reduce_range=chosen.reduce_range,
        op_types_to_quantize=["MatMul"],
    )


def _main(argv: list[str]) -> int:
    """``python -m rag.embeddings.export MODEL_DIR CACHE_DIR SCHEME``: build the export."""
    import sys

    if len(argv) != 3 or argv[2] not in SCHEMES:
        print(f"usage: python -m rag.embeddings.export MODEL_DIR CACHE_DIR {{{','.join(SCHEMES)}}}")
        return 2
    # the export's own process: transformers must never reach for a hub
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        ensure_onnx(Path(argv[0]), Path(argv[1]), quantize=argv[2], in_process=True)
    except RagError as exc:
        print(f"{_ERROR_MARK}{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
