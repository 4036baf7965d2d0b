"""A misspelt English question word read as the word the sources write ("conection" ->
connection, "langchian" -> langchain, "tets" -> test): a word no word list knows (the
embedder's vocabulary: "there", "windows" and "rides" are words, not misspellings of three,
widows and ridges), one letter left out, added or two swapped, and only when the sources
write exactly one such word. Users misspell; keyword coverage and the embedder both miss a
word they never saw spelt that way."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from rag.keywords import has_hangul

_WORD = re.compile(r"(?<![\w./-])[A-Za-z]{4,}(?![\w/-]|\.\w)")
"""A plain English word of four letters or more: not part of a path, flag, name with digits or
dotted name, which are matched letter for letter."""


def _edits(word: str) -> set[str]:
    """``word`` with one letter deleted or two neighbouring letters swapped."""
    deleted = {word[:i] + word[i + 1 :] for i in range(len(word))}
    swapped = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return (deleted | swapped) - {word}


def _forms(word: str) -> set[str]:
    """Other forms of an English ``word``: without or with its ending (s, es, ed, ing)."""
    forms = {word + "s", word + "es"}
    for ending in ("s", "es", "ed", "ing"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            forms.add(word[: -len(ending)])
    return forms


def respelled(question: str, texts: Iterable[str], known: AbstractSet[str]) -> str:
    """``question`` with each word that is neither ``known`` (a word list: the embedder's
    vocabulary) nor written in the ``texts`` replaced by the one word they do write with one
    letter more or less (that word five letters or more) or two neighbouring letters swapped,
    the same first letter, case ignored; left as is when the sources write another form of it
    (uses: use), when no word is that close, or several that are not forms of one word (test
    and tests are; chips and ships are not)."""
    if all(m.group(0).lower() in known for m in _WORD.finditer(question)):
        return question  # every word is a word: nothing to respell (most questions)
    written = {w.lower() for t in texts for w in re.findall(r"[A-Za-z]{3,}", t)}
    by_edit: dict[str, set[str]] = {}
    for w in written:
        if len(w) >= 5:
            for e in _edits(w):  # w loses a letter: the question's word left one out
                by_edit.setdefault(e, set()).add(w)

    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        low = word.lower()
        if low in known or low in written or _forms(low) & written:
            return word  # written, or another form of it is (uses: use; emails: email)
        found = set(by_edit.get(low, ()))  # the question's word lacks a letter (conection)
        found |= {e for e in _edits(low) if e in written and len(e) >= 5}  # it has one more
        found |= {w for w in written if len(w) == len(low) and w in _edits(low)}  # swapped
        found = {f for f in found if f[0] == low[0]}  # misspelt words keep their first letter
        if not found or len({f[:4] for f in found}) > 1:
            return word  # none, or several words (not one word's forms: test, tests)
        return min(found, key=lambda f: (len(f), f))

    return _WORD.sub(fix, question)


def folded(term_lists: list[list[str]]) -> list[list[str]]:
    """Latin terms without accents, so "gaudi" in a question is "Gaudí" in a source; Hangul
    (which NFKD would take apart) and plain ASCII terms are left as they are."""
    return [
        [t if t.isascii() or has_hangul(t) else _unaccented(t) for t in ts] for ts in term_lists
    ]


def _unaccented(term: str) -> str:
    decomposed = unicodedata.normalize("NFKD", term)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
