"""Rerankers: the protocol (``base``) and a local sentence-transformers cross-encoder
(``cross_encoder``). Off by default; the setting ``reranker_path`` turns it on.

To add a reranker: one module here with a class satisfying ``Reranker`` (a ``name`` and
``rerank``; ``base.keep_best`` implements the ordering rules), a branch in ``make_reranker``,
and a test class running ``rag.testing.reranker_contract.RerankerContract`` for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.rerankers.base import Reranker, keep_best
from rag.rerankers.cross_encoder import CrossEncoderReranker, check_model_dir

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = ["CrossEncoderReranker", "Reranker", "check_model_dir", "keep_best", "make_reranker"]


def make_reranker(settings: Settings) -> Reranker | None:
    """The reranker the settings name (a cross-encoder at ``reranker_path``, on the
    ``embed_device``), or None: reranking off."""
    if settings.reranker_path is None:
        return None
    return CrossEncoderReranker(settings.reranker_path, device=settings.embed_device)
