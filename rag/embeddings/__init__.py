"""Embedders: the protocol (``base``), the ONNX Runtime default (``onnx``, export and
quantization in ``export``) and sentence-transformers on torch (``sentence_transformers``).

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
)
from rag.embeddings.onnx import OnnxEmbedder
from rag.embeddings.sentence_transformers import SentenceTransformerEmbedder
from rag.types import Vectors

if TYPE_CHECKING:
    from rag.config import Settings

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
]


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name: a local sentence-transformers model run by onnxruntime
    (``onnx-int8``, the default, or ``onnx``) or by torch (``torch``)."""
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
