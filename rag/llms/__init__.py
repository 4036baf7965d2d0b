"""LLM backends. ``make_llm(spec, settings)`` turns a backend spec into an ``LLM``.

Specs (``--llm`` / setting ``llm``):

- ``local`` — llama.cpp with the configured or packaged GGUF; ``local:/path/model.gguf``
- ``openai:MODEL`` — api.openai.com, key from ``OPENAI_API_KEY``
- ``anthropic:MODEL`` — api.anthropic.com, key from ``ANTHROPIC_API_KEY``
- ``openai-compatible:URL`` or ``openai-compatible:URL#MODEL`` — any server speaking the OpenAI
  API (vLLM, llama.cpp server, Ollama), e.g. ``openai-compatible:http://127.0.0.1:8080/v1``;
  optional key from ``OPENAI_COMPATIBLE_API_KEY``; MODEL defaults to ``default``
- ``route`` — the ``[routing]`` policy of the settings (retries, fallback, budget)
- a backend name defined in ``[routing.backends]`` — that backend alone

``as_async(llm, executor)`` gives any of them its async twin (``AsyncLLM``): the hosted backends
are their own, a router becomes an ``AsyncRoutedLLM``, others run in ``executor``.

Settings read besides ``max_tokens``/``temperature``/``gguf_path``/``n_ctx``/``n_threads``
(optional, so this works before they exist): ``routing`` (a ``RoutingPolicy``),
``price_file`` (user price list), ``llm_timeout_s`` (hosted request timeout, default 60),
``lora_path``/``lora_scale`` (a LoRA adapter on the local model), ``prompt_cache`` (which
prefixes Anthropic requests mark for its prompt cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError
from rag.llms.base import LLM, AsyncLLM, Completion, Message, StreamEvent

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from rag.config import Settings
    from rag.costs.pricing import PriceTable
    from rag.routing_config import BackendConfig, RoutingPolicy

__all__ = ["LLM", "AsyncLLM", "Completion", "Message", "StreamEvent", "as_async", "make_llm"]

_SINGLE_FORMS = (
    "'local', 'local:/path/model.gguf', 'openai:MODEL', 'anthropic:MODEL' or "
    "'openai-compatible:URL[#MODEL]'"
)
_FORMS = _SINGLE_FORMS.replace(" or ", ", ") + ", 'route' or a name from [routing.backends]"


def make_llm(spec: str, settings: Settings) -> LLM:
    """Build the backend named by ``spec``; raise ConfigError for an unknown or malformed spec,
    a missing API key, or a routing policy that cannot be built."""
    spec = spec.strip()
    routing: RoutingPolicy | None = getattr(settings, "routing", None)
    if spec in ("route", "routed"):
        if routing is None:
            raise ConfigError(
                f"--llm {spec} needs a [routing] table in rag.toml (backends, default, fallback); "
                f"or pass a single backend: {_FORMS}"
            )
        return make_routed(routing, settings)
    if routing is not None and spec in routing.backends:
        return _from_config(spec, routing.backends[spec], settings, _prices(settings))
    if spec.partition(":")[0] not in _KINDS:
        names = f" (defined: {', '.join(sorted(routing.backends))})" if routing else ""
        raise ConfigError(
            f"unknown LLM backend {spec!r} (setting 'llm' / --llm): use {_FORMS}{names}"
        )
    if getattr(settings, "lora_path", None) is not None and spec.partition(":")[0] != "local":
        raise ConfigError(
            f"a LoRA adapter (setting 'lora_path' / --lora) runs on the local llama.cpp model "
            f"only, not on {spec!r}; use --llm local[:/path/base.gguf] or unset lora_path"
        )
    return _make_single(spec, settings, _prices(settings), timeout_s=None, context_window=None)


def as_async(llm: LLM, executor: Executor) -> AsyncLLM:
    """The async twin of ``llm``: itself when it has a native async path (the hosted backends'
    async SDK clients), an ``AsyncRoutedLLM`` for a router (each of its backends made async the
    same way), else an ``OffloadedLLM`` that runs it in ``executor`` (llama.cpp, the fakes)."""
    from rag.llms.offload import OffloadedLLM
    from rag.llms.routing import AsyncRoutedLLM, RoutedLLM

    if isinstance(llm, RoutedLLM):
        views = {id(route): as_async(route, executor) for _, route in llm.routes}
        return AsyncRoutedLLM(llm, executor, views)
    if isinstance(llm, AsyncLLM):
        return llm
    return OffloadedLLM(llm, executor)


def make_routed(policy: RoutingPolicy, settings: Settings) -> LLM:
    """A RoutedLLM over every backend of ``policy``, built now so a bad spec or a missing key
    fails at configuration time; failed attempts are logged to the settings' call log."""
    from rag.costs.logs import make_call_log
    from rag.llms.routing import RoutedLLM

    prices = _prices(settings)
    routes = [
        (name, _from_config(name, policy.backends[name], settings, prices)) for name in policy.order
    ]
    return RoutedLLM(
        routes,
        retry=policy.retry,
        budget=policy.budget,
        prices=prices,
        max_tokens=settings.max_tokens,
        call_log=make_call_log(settings),
    )


def _prices(settings: Settings) -> PriceTable:
    from rag.costs.pricing import load_prices

    price_file: Path | None = getattr(settings, "price_file", None)
    return load_prices(price_file)


def _from_config(name: str, cfg: BackendConfig, settings: Settings, prices: PriceTable) -> LLM:
    spec = cfg.llm.strip()
    if spec in ("route", "routed") or spec.partition(":")[0] not in _KINDS:
        raise ConfigError(
            f"routing.backends.{name}.llm = {cfg.llm!r} is not a backend spec; use {_SINGLE_FORMS}"
        )
    return _make_single(
        spec, settings, prices, timeout_s=cfg.timeout_s, context_window=cfg.context_window
    )


_KINDS = ("local", "openai", "anthropic", "openai-compatible")


def _make_single(
    spec: str,
    settings: Settings,
    prices: PriceTable,
    *,
    timeout_s: float | None,
    context_window: int | None,
) -> LLM:
    kind, _, arg = spec.partition(":")
    timeout: float = timeout_s or getattr(settings, "llm_timeout_s", None) or 60.0
    if kind == "local":
        from rag.llms.llamacpp import LlamaCppLLM

        path = Path(arg) if arg else settings.gguf_path
        return LlamaCppLLM(
            model_path=path,
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            lora_path=getattr(settings, "lora_path", None),
            lora_scale=getattr(settings, "lora_scale", 1.0),
        )
    common: dict[str, Any] = {
        "timeout_s": timeout,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        "context_window": context_window,
        "prices": prices,
        "prompt_cache": getattr(settings, "prompt_cache", "auto"),
    }
    if kind == "openai":
        from rag.llms.openai import OpenAILLM, OpenAIProvider

        return OpenAILLM(_model(spec, arg), provider=OpenAIProvider.openai(), **common)
    if kind == "anthropic":
        from rag.llms.anthropic import AnthropicLLM, AnthropicProvider

        return AnthropicLLM(_model(spec, arg), provider=AnthropicProvider.official(), **common)
    if kind == "openai-compatible":
        from rag.llms.openai import OpenAILLM, OpenAIProvider

        url, _, model = arg.partition("#")
        if not url.startswith(("http://", "https://")) or " " in url or len(url) < 10:
            raise ConfigError(
                f"malformed LLM spec {spec!r} (setting 'llm' / --llm): give the server's base "
                "URL, e.g. openai-compatible:http://127.0.0.1:8080/v1 or "
                "openai-compatible:http://127.0.0.1:8000/v1#Qwen/Qwen2.5-7B-Instruct"
            )
        return OpenAILLM(
            model.strip() or "default", provider=OpenAIProvider.compatible(url), **common
        )
    raise ConfigError(f"unknown LLM backend {spec!r} (setting 'llm' / --llm): use {_FORMS}")


def _model(spec: str, arg: str) -> str:
    model = arg.strip()
    if not model or any(ch.isspace() for ch in model):
        kind = spec.partition(":")[0]
        example = "gpt-4o-mini" if kind == "openai" else "claude-3-5-haiku-latest"
        raise ConfigError(
            f"malformed LLM spec {spec!r} (setting 'llm' / --llm): name the model after the "
            f"colon, e.g. {kind}:{example}"
        )
    return model
