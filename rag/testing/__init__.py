"""Test helpers shipped with rag: deterministic fakes and the contract suites.

``from rag.testing import FakeEmbedder, FakeReranker, ScriptedLLM``; the store contract lives
in ``rag.testing.store_contract`` and the reranker contract in ``rag.testing.reranker_contract``
(both import pytest, so they are not imported here).
"""

from rag.testing.fakes import (
    FakeEmbedder,
    FakeReranker,
    ScriptedLLM,
    WhitespaceTokenizer,
    echo_question,
)

__all__ = ["FakeEmbedder", "FakeReranker", "ScriptedLLM", "WhitespaceTokenizer", "echo_question"]
