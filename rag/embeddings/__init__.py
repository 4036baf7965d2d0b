"""Embedders: the protocol (``base``), the ONNX Runtime default (``onnx``, export and
quantization in ``export``), sentence-transformers on torch (``sentence_transformers``) and
hosted models over the OpenAI embeddings API (``openai``, setting ``embed``).

Contract: ``embed(texts, input_type=...)`` returns a float32 array of shape
``(len(texts), dimension)`` with unit-length rows (cosine = dot product), in input
order. ``input_type`` is ``"query"`` or ``"document"``: models that embed the two
differently (e5, bge prefixes) apply it; symmetric models ignore it.
``tokenizer`` counts and splits text with the model's own tokenizer, so the chunker
can keep every chunk inside ``max_tokens`` and nothing is silently truncated.
To add a backend: one module here with a class satisfying ``Embedder`` (declare an
``identity``), and a branch in ``make_embedder``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.embeddings.base import (
    Embedder,
    EmbedderIdentity,
    HFTokenizer,
    InputType,
    Tokenizer,
    check_compatible,
    covers,
    identity_of,
    languages_of,
    model_languages,
    model_path,
    packaged_model_path,
    vocabulary_of,
)
from rag.embeddings.onnx import OnnxEmbedder
from rag.embeddings.sentence_transformers import SentenceTransformerEmbedder
from rag.errors import ConfigError
from rag.types import Vectors

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.costs.calllog import CallLogLike

__all__ = [
    "Embedder",
    "EmbedderIdentity",
    "HFTokenizer",
    "InputType",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "Tokenizer",
    "Vectors",
    "check_compatible",
    "covers",
    "identity_of",
    "languages_of",
    "make_embedder",
    "model_languages",
    "model_path",
    "packaged_model_path",
    "vocabulary_of",
]


def make_embedder(settings: Settings, *, call_log: CallLogLike | None = None) -> Embedder:
    """The embedder the settings name: with ``embed = "local"`` (the default) a local
    sentence-transformers model run by onnxruntime (``onnx-int8``, the default, or ``onnx``)
    or by torch (``torch``); ``openai:MODEL`` or ``openai-compatible:URL#MODEL`` a hosted one,
    whose calls are recorded in ``call_log``."""
    spec = settings.embed.strip()
    if spec != "local":
        return _hosted(spec, settings, call_log)
    if settings.embed_backend == "torch" or settings.embed_device != "cpu":
        return SentenceTransformerEmbedder(
            settings.embed_model,
            batch_size=settings.embed_batch_size,
            device=settings.embed_device,
        )
    return OnnxEmbedder(
        model_path(settings.embed_model),
        cache_dir=settings.cache_dir,
        quantize=settings.embed_backend == "onnx-int8",
        threads=settings.embed_threads,
    )


_EMBED_FORMS = "'local', 'openai:MODEL' or 'openai-compatible:URL#MODEL'"


def _hosted(spec: str, settings: Settings, call_log: CallLogLike | None) -> Embedder:
    """An ``OpenAIEmbedder`` for ``openai:MODEL`` or ``openai-compatible:URL#MODEL``."""
    from rag.costs.pricing import load_prices
    from rag.embeddings.openai import OpenAIEmbedder
    from rag.llms.openai import OpenAIProvider

    kind, _, arg = spec.partition(":")
    if kind == "openai":
        provider, model = OpenAIProvider.openai(), arg.strip()
    elif kind == "openai-compatible":
        url, _, model = arg.partition("#")
        if not url.startswith(("http://", "https://")) or " " in url or not model.strip():
            raise ConfigError(
                f"malformed embedder spec {spec!r} (setting 'embed' / --embed): give the "
                "server's base URL and the model, e.g. "
                "openai-compatible:http://127.0.0.1:8080/v1#nomic-embed-text"
            )
        provider = OpenAIProvider.compatible(url)
    else:
        raise ConfigError(
            f"unknown embedder {spec!r} (setting 'embed' / --embed): use {_EMBED_FORMS}"
        )
    if not model.strip() or any(ch.isspace() for ch in model.strip()):
        raise ConfigError(
            f"malformed embedder spec {spec!r} (setting 'embed' / --embed): name the model "
            "after the colon, e.g. openai:text-embedding-3-small"
        )
    routing = settings.routing
    return OpenAIEmbedder(
        model.strip(),
        provider=provider,
        dimensions=settings.embed_dimensions,
        batch_tokens=settings.embed_batch_tokens,
        timeout_s=settings.embed_timeout_s,
        retry=routing.retry if routing is not None else None,
        prices=load_prices(settings.price_file),
        call_log=call_log,
    )
