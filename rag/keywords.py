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
give "run". Kiwi splits names its own way ("CP949" -> cp + 949), so a Korean text also gives
its Latin words and numbers as a text without Hangul reads them (cp949): an English question
finds a Korean page by a name it writes, and back; kiwi's terms stay, so an index written
before keeps matching. Text without Hangul never touches kiwi: a regex split plus a cached
stemmer tokenizes SciFact's 5,183 abstracts in well under a second. Kiwi (about 1 s and
~100 MB to load) is created on the first Korean text, once per process, and used under a
lock.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

    from rag.types import Chunk

__all__ = [
    "ENGLISH_STOPWORDS",
    "KOREAN_STOPWORDS",
    "KeywordTokenizer",
    "has_hangul",
    "korean_clauses",
    "latin_words",
    "proper_compounds",
    "related_morphemes",
    "warm_kiwi",
]

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_HANGUL_RUN = re.compile(_HANGUL.pattern + "+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NOT_KOREAN_WORD = re.compile(
    r"[^\W_\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+"
)
"""A word of Latin (or another alphabet's) letters and digits inside Korean text: what a text
without Hangul would read there ("CP949로" -> CP949)."""
_KIWI_LATIN = frozenset({"SL", "SN"})
_KEEP_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "XR", "SN", "SH"})
_COMPOUND_TAGS = frozenset({"NNG", "NNP"})
"""Nouns that are joined with their neighbour and looked into for parts."""
_COMPOUND_MIN = 3
"""Nouns of at least this many syllables are looked into for parts."""
_PART_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "NP"})
_PART_MIN = 2
"""A part shorter than this (one syllable: 철, 쪽, 강) is not emitted: too ambiguous alone."""
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
KOREAN_STOPWORDS = frozenset(
    ["것", "거", "수", "데", "뭐", "무엇", "어디", "언제", "누구", "하", "되", "있", "없"]
)
"""Content morphemes that carry no topic: bound nouns (것, 거, 수, 데), question pronouns
(뭐, 무엇, 어디, 언제, 누구) and the light verbs 하, 되, 있, 없. Almost every question has
one, and in small collections their idf is not low enough to keep them from deciding ties."""


def has_hangul(text: str) -> bool:
    """True when ``text`` contains a Hangul syllable or jamo (and so needs kiwi)."""
    return _HANGUL.search(text) is not None


def latin_words(text: str) -> str:
    """``text`` with its Hangul blanked out, so the tokenizer reads its Latin words and numbers
    without kiwi, as it reads a question without Hangul ("CP949나" -> cp949, where kiwi gives
    cp + 949): all that such a question can share with it."""
    return _HANGUL_RUN.sub(" ", text)


class KeywordTokenizer:
    """Text -> BM25 terms, the same for documents and queries. Thread-safe; kiwi loads lazily."""

    def __init__(
        self,
        *,
        stopwords: Iterable[str] = ENGLISH_STOPWORDS,
        korean_stopwords: Iterable[str] = KOREAN_STOPWORDS,
        compounds: bool = True,
        title_weight: int = 1,
    ) -> None:
        import snowballstemmer

        self.compounds = compounds
        """Korean compound nouns: emit adjacent noun pairs joined and a compound's parts."""
        self.title_weight = title_weight
        """How many times ``chunk_text`` puts a chunk's title field before its text."""
        self._korean_stopwords = frozenset(korean_stopwords)
        self._parts: dict[str, tuple[str, ...]] = {}
        """Noun -> the nouns kiwi reads in it (``()``: not a compound); filled under the lock."""

        self._stemmer: Any = snowballstemmer.stemmer("english")
        self._stopwords = frozenset(stopwords)
        self._terms: dict[str, str] = {}
        """Word as written -> its term ("" for a stopword): vocabularies are far smaller than
        corpora, so each spelling is lowercased, checked and stemmed once."""
        self._kiwi: Kiwi | None = None

    def __getstate__(self) -> dict[str, object]:
        """Pickles as its settings (the stemmer and kiwi are rebuilt where it is unpickled),
        so ingest's load + chunk stage can run in another process."""
        return {
            "stopwords": self._stopwords,
            "korean_stopwords": self._korean_stopwords,
            "compounds": self.compounds,
            "title_weight": self.title_weight,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def kiwi_loaded(self) -> bool:
        """Whether this tokenizer has needed the Korean analyzer (only text with Hangul does)."""
        return self._kiwi is not None

    def tokenize(self, text: str) -> list[str]:
        """The terms of one text, in order (repeats kept: they are term frequencies)."""
        if has_hangul(text):
            return self._korean(self._analyze([text])[0], text)
        return self._latin(_WORD.findall(text))

    def chunk_text(self, chunk: Chunk) -> str:
        """The text BM25 indexes for ``chunk``: its text, after its document title and heading
        path ``title_weight`` times (a title word is a strong hint of what a chunk is about,
        and chunks after a document's first do not contain its title)."""
        title = chunk.metadata.get("title")
        field = [title] if isinstance(title, str) and title.strip() else []
        field.extend(h for h in chunk.location.heading_path if h not in field)
        if not field or self.title_weight <= 0:
            return chunk.text
        head = "\n".join(field)
        return "\n".join([head] * self.title_weight + [chunk.text])

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
                out[i] = self._korean(tokens, texts[i])
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

    def _korean(self, tokens: Iterable[tuple[str, str]], text: str) -> list[str]:
        """Content morphemes as terms; with ``compounds``, also each pair of adjacent nouns
        joined ("기준 금리" and "기준금리" both give 기준, 금리, 기준금리) and the parts of a
        compound noun kiwi keeps whole ("장마철" also gives 장마). The Latin words and numbers
        of ``text`` are read as in a text without Hangul too (``_read_as_latin``)."""
        out: list[str] = []
        long_nouns: list[str] = []
        prev_noun: str | None = None
        kiwi_latin: list[str] = []
        for form, tag in tokens:
            base = tag.split("-", 1)[0]  # VV-R / VA-I: regular and irregular stems
            noun: str | None = None
            if base in _KIWI_LATIN or base.startswith("W_"):
                terms = self._latin(_WORD.findall(form))
                out.extend(terms)
                kiwi_latin.extend(terms)
            elif base in _KEEP_TAGS and form not in self._korean_stopwords:
                words = [w.lower() for w in _WORD.findall(form)]
                out.extend(words)
                if base in _COMPOUND_TAGS and len(words) == 1:
                    noun = words[0]
                    if len(noun) >= _COMPOUND_MIN:
                        long_nouns.append(noun)
            if self.compounds and noun is not None and prev_noun is not None:
                out.append(prev_noun + noun)
            prev_noun = noun
        if self.compounds and long_nouns:
            for parts in self._compound_parts(long_nouns):
                out.extend(parts)
        out.extend(self._read_as_latin(text, kiwi_latin))
        return out

    def _read_as_latin(self, text: str, kiwi_terms: list[str]) -> list[str]:
        """The terms a text without Hangul gives for the Latin words and numbers of ``text``
        that kiwi read otherwise: kiwi splits names its own way ("CP949" -> cp + 949,
        "glyphcut" -> gli + phcut, "SmolLM2-135M" -> smollm + 2 + 135 + m), so an English
        question or page never shared them with a Korean one. Kiwi's terms stay (a store
        indexed before keeps matching), these are added."""
        left: dict[str, int] = {}
        for term in kiwi_terms:
            left[term] = left.get(term, 0) + 1
        extra: list[str] = []
        for term in self._latin(_NOT_KOREAN_WORD.findall(text)):
            if left.get(term, 0) > 0:
                left[term] -= 1
            else:
                extra.append(term)
        return extra

    def _compound_parts(self, nouns: list[str]) -> list[tuple[str, ...]]:
        """The parts of each of ``nouns`` (``()`` for one that is not a compound), each
        distinct noun split by kiwi once."""
        todo = [n for n in dict.fromkeys(nouns) if n not in self._parts]
        if todo:
            with _KIWI_LOCK:
                if self._kiwi is None:
                    self._kiwi = _shared_kiwi()
                for n in todo:
                    parts = _split_compound(self._kiwi, n)
                    if len(self._parts) < _STEM_CACHE_MAX:
                        self._parts[n] = parts
                    else:  # a huge vocabulary: stop caching rather than grow without bound
                        return [self._parts.get(m) or _split_compound(self._kiwi, m) for m in nouns]
        return [self._parts[n] for n in nouns]

    def _analyze(self, texts: list[str]) -> list[list[tuple[str, str]]]:
        """(form, tag) morphemes of each text, under the lock of the process's one Kiwi."""
        with _KIWI_LOCK:
            if self._kiwi is None:
                self._kiwi = _shared_kiwi()
            results = [self._kiwi.tokenize(text) for text in texts]
        return [[(t.form, t.tag) for t in tokens] for tokens in results]


_BOUND = frozenset(["VX", "VCP", "VCN", "VV", "VA"])
"""What follows a connective ending inside one clause: an auxiliary verb (-고 있다) or a verb
joined to it (읽고 쓸 수 있게, 강해졌다 약해지기를)."""
_NOT_A_CLAUSE_END = frozenset(
    ["면", "으면", "어", "아", "게", "지", "어야", "아야", "도록", "듯이"]
)
"""Connective endings that do not close a clause of their own: a condition (-면) belongs with
what follows it, and -어 / -게 / -지 / -도록 bind the verb after them (먹어 보다, 쉽게 하다)."""


def korean_clauses(text: str) -> list[str]:
    """A Korean sentence cut into its clauses, verbatim and in order: after each connective
    ending (-고, -며, -는데, -지만, -어서 ...) followed by a space or comma, unless an
    auxiliary or another verb comes next (-고 있다, 읽고 쓸) or it closes no clause of its own
    (``_NOT_A_CLAUSE_END``). Commas elsewhere (a list: "500m, 1000m") do not cut."""
    with _KIWI_LOCK:
        tokens = _shared_kiwi().tokenize(text)
    parts: list[str] = []
    start = 0
    for t, after in itertools.pairwise(tokens):
        if t.tag != "EC" or after.tag in _BOUND or t.form in _NOT_A_CLAUSE_END:
            continue
        end = t.start + t.len
        if end >= len(text) or text[end] not in " ,":
            continue
        if text[start:end].strip():
            parts.append(text[start:end])
        start = end
        while start < len(text) and text[start] in " ,":
            start += 1
    if text[start:].strip():
        parts.append(text[start:])
    return parts


_KIWI_LOCK = threading.Lock()
_KIWI: list[Kiwi] = []


def warm_kiwi() -> threading.Thread:
    """Load the process's Kiwi in a background thread and return it: a CLI that knows its
    question is Korean overlaps the 3-6 s of loading (the model, then its first analysis)
    with opening the store and the embedder. Whoever needs Kiwi meanwhile waits on the lock."""

    def load() -> None:
        with _KIWI_LOCK, contextlib.suppress(Exception):  # not installed: the caller says so
            _shared_kiwi().tokenize("가")  # the first analysis loads the rest of the model

    thread = threading.Thread(target=load, name="rag-kiwi-warm", daemon=True)
    thread.start()
    return thread


def _shared_kiwi() -> Kiwi:
    """The process's Kiwi (its model takes ~1 s and ~100 MB to load; every tokenizer shares it).
    Call with ``_KIWI_LOCK`` held."""
    if not _KIWI:
        from rag._lazy import require

        require("kiwipiepy", "korean", "Korean keyword search")
        from kiwipiepy import Kiwi

        _KIWI.append(Kiwi())
    return _KIWI[0]


def _syllables(word: str) -> bool:
    """``word`` is one or more Hangul syllables and nothing else (no jamo, Latin or digits)."""
    return bool(word) and all("\uac00" <= ch <= "\ud7a3" for ch in word)


RELATED_MIN = 0.6
"""The least cosine at which ``related_morphemes`` counts a morpheme as close in meaning."""
_RELATED_TOP = 50
_RELATED_TAGS = ("NNG", "VV", "VA")


@lru_cache(maxsize=8192)
def related_morphemes(term: str) -> Mapping[str, float]:
    """Korean morphemes close in meaning to the morpheme ``term`` (common noun, verb or
    adjective stem), each with its cosine (``RELATED_MIN`` or more), from the embeddings of
    kiwi's CoNg model (kiwipiepy 0.21+): 값 -> 가격 0.68, 남자 -> 남성 0.73 but also 여자 0.90
    (words used alike, not only synonyms; a rare word's neighbours can be other rare words
    unrelated to it). Proper nouns are not looked up: their neighbours are other names.
    Empty for a term that is not Hangul or that the model does not know. Cached per process;
    kiwi loads on the first call."""
    if not _syllables(term):
        return MappingProxyType({})
    near: dict[str, float] = {}
    with _KIWI_LOCK:
        kiwi = _shared_kiwi()
        for tag in _RELATED_TAGS:
            try:
                found = kiwi.most_similar_morphemes((term, tag), top_n=_RELATED_TOP)
            except Exception:  # no such morpheme with this tag, or a model without embeddings
                continue
            for m in found:
                if m.score >= RELATED_MIN and m.form != term:
                    near[m.form] = max(near.get(m.form, 0.0), float(m.score))
    return MappingProxyType(near)


_COMPOUND_TAIL = frozenset({"NNG", "NNP", "XSN"})


def proper_compounds(text: str) -> frozenset[str]:
    """The Korean names in ``text`` as written: a proper noun (kiwi NNP) with the nouns and
    suffixes joined to it, of three syllables or more ("씨름 한라급은" -> 한라급, "흥보가를"
    -> 흥보가, "쌍둥이자리 유성우" -> 쌍둥이자리). Kiwi loads on the first call."""
    if not has_hangul(text):
        return frozenset()
    with _KIWI_LOCK:
        tokens = _shared_kiwi().tokenize(text)
    found: set[str] = set()
    run: list[str] = []
    end = -1
    for t in tokens:
        if run and t.tag in _COMPOUND_TAIL and t.start == end:
            run.append(t.form)
        else:
            found.add("".join(run))
            run = [t.form] if t.tag == "NNP" else []
        end = t.start + t.len
    found.add("".join(run))
    return frozenset(w for w in found if len(w) >= 3 and _syllables(w))


def _split_compound(kiwi: Kiwi, noun: str) -> tuple[str, ...]:
    """The parts of two syllables or more that kiwi reads in ``noun`` when it may not read it
    whole (``blocklist``): "장마철" -> 장마 (+ 철), "우리은하" -> 우리, 은하. ``()`` when that
    reading is not all nouns (수묵화 -> 수묵 + the suffix 화, 발원지 -> a verb): the word
    is not a compound then. Call with ``_KIWI_LOCK`` held."""
    if len(noun) < 2 or not _syllables(noun):
        return ()
    tokens = kiwi.tokenize(noun, blocklist=[f"{noun}/NNG", f"{noun}/NNP"])
    if len(tokens) < 2 or any(t.tag not in _PART_TAGS for t in tokens):
        return ()
    return tuple(t.form for t in tokens if len(t.form) >= _PART_MIN)
