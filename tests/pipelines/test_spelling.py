"""``rag.pipelines.spelling.respelled``: a misspelt English question word read as the word the
sources write, and only then."""

from __future__ import annotations

from citation_helpers import cite

from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.spelling import respelled

KNOWN = frozenset({"there", "windows", "rides", "how", "does", "the", "work", "many", "chips"})
SOURCES = [
    "The connection string is read from RAG_PG_DSN.",
    "make test-fast runs the unit tests only. It compares LangChain and LlamaIndex.",
    "The ships and the ridges. The widows of the three.",
]


def test_a_word_no_list_knows_becomes_the_one_the_sources_write() -> None:
    assert respelled("the postgres conection string", SOURCES, KNOWN) == (
        "the postgres connection string"
    )
    assert respelled("unit tets", SOURCES, KNOWN) == "unit test"  # test or tests: one word
    assert respelled("langchian vs llamaindex", SOURCES, KNOWN) == "langchain vs llamaindex"


def test_known_words_forms_and_ambiguous_or_distant_words_stay() -> None:
    # known words are not misspellings of three, widows or ridges
    assert respelled("Does there work on Windows rides?", SOURCES, KNOWN) == (
        "Does there work on Windows rides?"
    )
    assert respelled("how many chips", SOURCES, KNOWN) == "how many chips"  # known
    assert respelled("the connections", SOURCES, KNOWN) == "the connections"  # a form of it
    assert respelled("zzconection", SOURCES, KNOWN) == "zzconection"  # two letters away
    assert respelled("RAG_PG_DSM and conection.py", SOURCES, KNOWN) == (
        "RAG_PG_DSM and conection.py"  # names and paths are matched letter for letter
    )


def test_the_answerer_respells_only_with_an_embedders_word_list() -> None:
    """Without an embedder there is no word list to tell a misspelling from a word the
    sources do not use: the question is read as asked."""
    page = cite(1, "## Stores\n\nThe connection string of PostgreSQL is read from RAG_PG_DSN.")
    plain = ExtractiveAnswerer()
    assert plain.known_words == frozenset()
    answer = plain.compose("which env var holds the postgres connection string?", [page], lang="en")
    assert "RAG_PG_DSN" in answer.text, answer
