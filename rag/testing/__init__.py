"""Test helpers shipped with rag: deterministic fakes and the store contract suite.

``from rag.testing import FakeEmbedder, ScriptedLLM``; the store contract lives in
``rag.testing.store_contract`` (imports pytest, so it is not imported here).
"""

from rag.testing.fakes import FakeEmbedder, ScriptedLLM, WhitespaceTokenizer, echo_question

__all__ = ["FakeEmbedder", "ScriptedLLM", "WhitespaceTokenizer", "echo_question"]
