"""A sentence-transformers ``CrossEncoder`` as a reranker, loaded from a local directory only.

A cross-encoder reads the question and a passage together and scores their relevance: slower
than the embedder (one forward pass per candidate) but more accurate, so it re-orders the
few dozen candidates retrieval found (``rag.pipelines.rerank``) rather than the collection.

rag ships no cross-encoder (we found no PyPI package that carries one's weights), so reranking
is off until the setting ``reranker_path`` names a local model directory. To use one, save it once on a machine that
may download, then point rag at the directory::

    # once, anywhere with network access:
    from sentence_transformers import CrossEncoder
    CrossEncoder("cross-encoder/ms-marco-MiniLM-L-6-v2").save_pretrained("models/ms-marco")

    # rag.toml (or RAG_RERANKER_PATH=models/ms-marco, or RAG(reranker_path=...)):
    reranker_path = "models/ms-marco"
    rerank_candidates = 20

The directory must hold ``config.json`` (plus the weights and tokenizer files
``save_pretrained`` writes); any single-label sequence-classification model works. Nothing
is fetched from a hub: the path is checked to be a directory and loaded with
``local_files_only=True``. torch and sentence-transformers load when the reranker is built,
never at ``import rag``.

Scores are the model's raw logits (no sigmoid): the order is the same, and a sigmoid would
saturate confident pairs to 1.0 in float32, turning distinct scores into ties.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag._lazy import quiet_transformers, require
from rag.errors import ConfigError
from rag.rerankers.base import keep_best
from rag.types import ScoredChunk

SETTING = "reranker_path"
"""The setting a user changes to point rag at another cross-encoder (named in errors)."""


def check_model_dir(path: str | Path) -> Path:
    """``path`` as a Path when it is a local model directory (with ``config.json``), else a
    ConfigError that names the setting and the fix."""
    p = Path(path).expanduser()
    fix = (
        f"set '{SETTING}' (RAG_RERANKER_PATH, '{SETTING} = ...' in rag.toml) to a local "
        "cross-encoder directory, e.g. one written by CrossEncoder(...).save_pretrained(DIR), "
        "or unset it to turn reranking off"
    )
    if not p.exists():
        raise ConfigError(f"setting '{SETTING}' is {str(p)!r}, which does not exist; {fix}")
    if not p.is_dir():
        raise ConfigError(
            f"setting '{SETTING}' is {str(p)!r}, a file, not a model directory; {fix}"
        )
    if not (p / "config.json").is_file():
        raise ConfigError(
            f"setting '{SETTING}' is {str(p)!r}, a directory without config.json, so not a "
            f"saved model; {fix}"
        )
    return p


class CrossEncoderReranker:
    """Re-scores hits with a local sentence-transformers cross-encoder (see the module doc).

    Safe to share across threads: calls run one at a time under a lock (a Hugging Face fast
    tokenizer refuses concurrent use, and torch already spreads one batch over the cores).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 32,
        max_length: int = 512,
        device: str = "cpu",
    ) -> None:
        model_dir = check_model_dir(path)
        if batch_size < 1 or max_length < 2:
            raise ConfigError(
                f"CrossEncoderReranker needs batch_size >= 1 and max_length >= 2 "
                f"(got {batch_size}, {max_length})"
            )
        st = require("sentence_transformers", "local", "the cross-encoder reranker")
        torch = require("torch", "local", "the cross-encoder reranker")
        quiet_transformers()
        try:
            self._model: Any = st.CrossEncoder(
                str(model_dir),
                device=device,
                local_files_only=True,  # a directory on disk, never a hub download
                max_length=max_length,
                activation_fn=torch.nn.Identity(),  # raw logits: see the module docstring
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"setting '{SETTING}': {str(model_dir)!r} could not be loaded as a "
                f"cross-encoder ({exc}); point it at a directory saved with save_pretrained"
            ) from exc
        labels = int(self._model.num_labels)
        if labels != 1:
            raise ConfigError(
                f"setting '{SETTING}': the model in {str(model_dir)!r} has {labels} labels; "
                "a reranker needs a relevance cross-encoder with one output (num_labels=1)"
            )
        self.path = model_dir
        self.name = model_dir.name
        self.batch_size = batch_size
        self.max_length = max_length
        self._lock = threading.Lock()

    def scores(self, question: str, texts: Sequence[str]) -> list[float]:
        """The model's relevance logit of each ``(question, text)`` pair, in input order."""
        if not texts:
            return []
        pairs = [(question, text) for text in texts]
        with self._lock:
            raw = self._model.predict(
                pairs,
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return [float(s) for s in raw.reshape(-1)]

    def rerank(self, question: str, hits: Sequence[ScoredChunk], k: int) -> list[ScoredChunk]:
        """The ``k`` hits the cross-encoder scores highest, best first (ties keep input order)."""
        if not hits or k <= 0:
            return []
        return keep_best(hits, self.scores(question, [h.chunk.text for h in hits]), k)
