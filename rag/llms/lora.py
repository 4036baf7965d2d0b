"""LoRA adapters for the local llama.cpp model: checked before llama.cpp sees them.

An adapter is a GGUF file written by llama.cpp's ``convert_lora_to_gguf.py``: metadata
``general.type = "adapter"``, ``adapter.type = "lora"``, ``adapter.lora.alpha`` and the base
model's ``general.architecture``; tensors in pairs ``<base tensor>.lora_a`` (ggml shape
``[n_in, rank]``) and ``<base tensor>.lora_b`` (``[rank, n_out]``), for a base tensor of shape
``[n_in, n_out]`` (the token embedding's pair is flipped). llama.cpp applies
``scale * alpha / rank * B @ A`` to that weight.

llama.cpp refuses a mismatched adapter only with a line on stderr and a generic "Failed to
initialize LoRA adapter", and a file that is not GGUF at all can crash it, so ``check_adapter``
reads both files' headers with the ``gguf`` package first and raises a ConfigError that names
the file and what does not match. ``adapter_identity`` is what Usage and the call log record:
file name, sha256 prefix and scale, so two adapters with one name are told apart.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from rag._lazy import require
from rag.errors import ConfigError

__all__ = ["adapter_identity", "check_adapter", "file_sha256"]

_SUFFIXES = (".lora_a", ".lora_b")
_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """The file's sha256 (hex), cached per path, size and modification time."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _HASH_LOCK:
        known = _HASHES.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASHES[key] = value
    return value


def adapter_identity(path: Path, scale: float) -> str:
    """``name.gguf sha256:<12 hex> scale <s>``: what Usage and the call log record."""
    return f"{path.name} sha256:{file_sha256(path)[:12]} scale {scale:g}"


def _bad(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"LoRA adapter {str(path)!r} (setting 'lora_path' / --lora) {what}; give a LoRA GGUF "
        "converted for this base model (llama.cpp's convert_lora_to_gguf.py, given that base), "
        "or unset lora_path"
    )


def _read(path: Path, label: str) -> Any:
    gguf = require("gguf", "local", "checking LoRA adapters")
    try:
        return gguf.GGUFReader(str(path))
    except Exception as exc:  # a truncated or foreign file: any of ValueError, struct errors
        raise _bad(path, f"cannot be read as GGUF ({label}: {type(exc).__name__}: {exc})") from None


def _text(reader: Any, key: str) -> str | None:
    field = reader.fields.get(key)
    if field is None:
        return None
    try:
        value = field.contents()
    except Exception:
        return None
    return value if isinstance(value, str) else None


def check_adapter(adapter: Path, base: Path) -> None:
    """Refuse (ConfigError naming ``adapter``) a file that is missing, not a LoRA GGUF, made for
    another architecture, or whose tensors do not fit the base model's (module docstring)."""
    if not adapter.is_file():
        raise _bad(adapter, "does not exist")
    lora = _read(adapter, "the adapter")
    kind = _text(lora, "general.type")
    if kind != "adapter" or _text(lora, "adapter.type") != "lora":
        raise _bad(
            adapter,
            f"is not a LoRA adapter (general.type = {kind!r}, adapter.type = "
            f"{_text(lora, 'adapter.type')!r}; expected 'adapter' and 'lora')",
        )
    model = _read(base, f"the base model {base}")
    arch, base_arch = _text(lora, "general.architecture"), _text(model, "general.architecture")
    if arch != base_arch:
        raise _bad(
            adapter,
            f"was made for architecture {arch!r}, but the base model {base.name} is {base_arch!r}",
        )
    shapes = {t.name: [int(n) for n in t.shape] for t in model.tensors}
    pairs: dict[str, dict[str, list[int]]] = {}
    for t in lora.tensors:
        name: str = t.name
        suffix = next((s for s in _SUFFIXES if name.endswith(s)), None)
        if suffix is None:
            if name.endswith("_norm.weight"):
                continue  # llama.cpp skips these too
            raise _bad(adapter, f"holds tensor {name!r}, neither a .lora_a nor a .lora_b")
        pairs.setdefault(name[: -len(suffix)], {})[suffix] = [int(n) for n in t.shape]
    if not pairs:
        raise _bad(adapter, "holds no lora_a/lora_b tensors")
    for target, pair in sorted(pairs.items()):
        if len(pair) != 2:
            raise _bad(adapter, f"has only one of {target}.lora_a / .lora_b")
        if target not in shapes:
            raise _bad(adapter, f"adapts {target!r}, which the base model {base.name} lacks")
        _check_shapes(adapter, base, target, shapes[target], pair[".lora_a"], pair[".lora_b"])


def _check_shapes(
    adapter: Path, base: Path, target: str, w: list[int], a: list[int], b: list[int]
) -> None:
    """llama.cpp's own rule (``llama-adapter.cpp``), in ggml order ``[ne0, ne1]``."""
    if len(w) < 2 or len(a) != 2 or len(b) != 2:
        raise _bad(adapter, f"has {target} pair of shapes {a} / {b} for a base tensor of {w}")
    if target.endswith("token_embd.weight"):
        fits = w[0] == b[1] and w[1] == a[1] and a[0] == b[0]
    else:
        fits = w[0] == a[0] and w[1] == b[1] and a[1] == b[0]
    if not fits:
        raise _bad(
            adapter,
            f"does not fit the base model {base.name}: {target} is {w[:2]} there, the adapter's "
            f"lora_a is {a} and lora_b {b} (another base model, or another size of it?)",
        )
