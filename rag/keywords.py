"""Keyword tokenization for BM25: Korean morphemes through kiwi, English lowercased and stemmed.

Korean attaches particles and endings to words ("LoRA는", "LoRA를", "모델을"), so splitting on
spaces would make every inflected form its own term and a Korean question would find nothing
by keyword. ``KeywordTokenizer`` runs ``kiwipiepy`` over text that contains Hangul and keeps
only content morphemes:

- nouns ``NNG NNP NNB NR NP``, verb/adjective stems ``VV VA`` (``VV-R``/``VA-I`` too), roots
  ``XR``, numbers ``SN``, hanja ``SH``, foreign words ``SL`` and web tokens ``W_*``;
- dropped: particles ``J*``, endings ``E*``, suffixes/prefixes ``XS*``/``XP*``, copula ``VCP``,
  punctuation and symbols ``S[FPSEOW]``.

Latin-script words (kiwi's ``SL`` tokens, and all words of text without Hangul) are lowercased,
English stopwords dropped, and stemmed with the Snowball English stemmer (``snowballstemmer``,
which uses PyStemmer's C implementation when it is installed), so "running" and "runs" both
give "run". Text without Hangul never touches kiwi: a regex split plus a cached stemmer
tokenizes SciFact's 5,183 abstracts in well under a second. Kiwi (about 1 s and ~100 MB to
load) is created on the first Korean text, once per process, and used under a lock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

__all__ = ["ENGLISH_STOPWORDS", "KeywordTokenizer", "has_hangul"]

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_KEEP_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "XR", "SN", "SH"})
_STEM_CACHE_MAX = 500_000

_STOPWORDS_TEXT = """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves"""
ENGLISH_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
"""Dropped before stemming: function words that carry no topic (the usual English list)."""


def has_hangul(text: str) -> bool:
    """True when ``text`` contains a Hangul syllable or jamo (and so needs kiwi)."""
    return _HANGUL.search(text) is not None


class KeywordTokenizer:
    """Text -> BM25 terms, the same for documents and queries. Thread-safe; kiwi loads lazily."""

    def __init__(self, *, stopwords: Iterable[str] = ENGLISH_STOPWORDS) -> None:
        import snowballstemmer

        self._stemmer: Any = snowballstemmer.stemmer("english")
        self._stopwords = frozenset(stopwords)
        self._terms: dict[str, str] = {}
        """Word as written -> its term ("" for a stopword): vocabularies are far smaller than
        corpora, so each spelling is lowercased, checked and stemmed once."""
        self._kiwi: Kiwi | None = None

    def __getstate__(self) -> dict[str, object]:
        """Pickles as its settings (the stemmer and kiwi are rebuilt where it is unpickled),
        so ingest's load + chunk stage can run in another process."""
        return {"stopwords": self._stopwords}

    def __setstate__(self, state: dict[str, object]) -> None:
        stopwords = state["stopwords"]
        assert isinstance(stopwords, frozenset)
        self.__init__(stopwords=stopwords)  # type: ignore[misc]

    @property
    def kiwi_loaded(self) -> bool:
        """Whether this tokenizer has needed the Korean analyzer (only text with Hangul does)."""
        return self._kiwi is not None

    def tokenize(self, text: str) -> list[str]:
        """The terms of one text, in order (repeats kept: they are term frequencies)."""
        if has_hangul(text):
            return self._korean(self._analyze([text])[0])
        return self._latin(_WORD.findall(text))

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """``tokenize`` for many texts; the Korean ones go through kiwi in one call."""
        out: list[list[str]] = [[] for _ in texts]
        korean = [i for i, t in enumerate(texts) if has_hangul(t)]
        korean_set = set(korean)
        for i, text in enumerate(texts):
            if i not in korean_set:
                out[i] = self._latin(_WORD.findall(text))
        if korean:
            for i, tokens in zip(korean, self._analyze([texts[i] for i in korean]), strict=True):
                out[i] = self._korean(tokens)
        return out

    # -- internals ---------------------------------------------------------------------------

    def _stem(self, word: str) -> str:
        """Lowercase, drop stopwords (""), stem."""
        lower = word.lower()
        if lower in self._stopwords:
            return ""
        return str(self._stemmer.stemWord(lower)) if lower.isascii() else lower

    def _latin(self, words: Iterable[str]) -> list[str]:
        terms = self._terms
        out = []
        for word in words:
            term = terms.get(word)
            if term is None:
                term = self._stem(word)
                if len(terms) < _STEM_CACHE_MAX:
                    terms[word] = term
            if term:
                out.append(term)
        return out

    def _korean(self, tokens: Iterable[tuple[str, str]]) -> list[str]:
        out: list[str] = []
        for form, tag in tokens:
            base = tag.split("-", 1)[0]  # VV-R / VA-I: regular and irregular stems
            if base == "SL" or base.startswith("W_"):
                out.extend(self._latin(_WORD.findall(form)))
            elif base in _KEEP_TAGS:
                out.extend(w.lower() for w in _WORD.findall(form))
        return out

    def _analyze(self, texts: list[str]) -> list[list[tuple[str, str]]]:
        """(form, tag) morphemes of each text, under the lock of the process's one Kiwi."""
        with _KIWI_LOCK:
            if self._kiwi is None:
                self._kiwi = _shared_kiwi()
            results = [self._kiwi.tokenize(text) for text in texts]
        return [[(t.form, t.tag) for t in tokens] for tokens in results]


_KIWI_LOCK = threading.Lock()
_KIWI: list[Kiwi] = []


def _shared_kiwi() -> Kiwi:
    """The process's Kiwi (its model takes ~1 s and ~100 MB to load; every tokenizer shares it).
    Call with ``_KIWI_LOCK`` held."""
    if not _KIWI:
        from rag._lazy import require

        require("kiwipiepy", "korean", "Korean keyword search")
        from kiwipiepy import Kiwi

        _KIWI.append(Kiwi())
    return _KIWI[0]
