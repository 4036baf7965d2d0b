"""sentence-transformers on torch: the reference embedder (any model, any device).

Slower on a CPU than the ONNX default (``rag.embeddings.onnx``) but runs every
sentence-transformers model and GPUs; ``embed_backend = "torch"`` selects it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from rag._lazy import package_version, quiet_transformers, require
from rag.embeddings.base import (
    EmbedderIdentity,
    HFTokenizer,
    InputType,
    Tokenizer,
    model_languages,
    model_path,
)
from rag.errors import ConfigError
from rag.types import Vectors


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
        # local_files_only: a model directory is read from disk, never from a hub
        st = require("sentence_transformers", "local", "the sentence-transformers embedder")
        quiet_transformers()
        check_device(device)
        self._model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
        self.name = path.name if path.name != "model" else path.parent.name
        self.languages = model_languages(path)
        """What the model card declares it was trained for (None: any language)."""
        self.identity = EmbedderIdentity(
            self.name, "torch", "fp32", f"torch {package_version('torch')}", device
        )
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


def check_device(device: str) -> None:
    """ConfigError unless torch can run on ``device`` here (``cuda`` without a CUDA build or
    GPU, ``mps`` off Apple silicon, a malformed name): torch's own failure is an
    AssertionError deep in its lazy CUDA init."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"embed_device {device!r} is not a torch device ({exc}); use 'cpu', 'cuda', "
            "'cuda:0' or 'mps'"
        ) from None
    if dev.type == "cpu":
        available = True
    elif dev.type == "cuda":
        count = int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
        available = count > 0 and (dev.index is None or dev.index < count)
    elif dev.type == "mps":
        available = bool(torch.backends.mps.is_available())
    else:
        available = False
    if not available:
        raise ConfigError(
            f"embed_device {device!r} is not available on this machine (torch "
            f"{torch.__version__}, CUDA {'yes' if torch.cuda.is_available() else 'no'}); set "
            "embed_device = 'cpu' (RAG_EMBED_DEVICE=cpu)"
        )
