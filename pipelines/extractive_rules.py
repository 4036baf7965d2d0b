"""The sentence-level rules of the extractive answerer (``rag.pipelines.extractive``): which
words ask, documents among the sources and their chunks read as one, term rarity, character
bigrams, names that share a beginning, Latin names no source writes, a statement quoted once
and a close runner-up put first. Which sentences join the best one: ``companions``. Kept apart
so that the answerer's module holds the scoring and the gates."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rag.keywords import has_hangul
from rag.pipelines.answer_specs import unwritten_designations
from rag.pipelines.statements import asks, code_line, row_cells
from rag.pipelines.subjects import (
    unwritten_en_names,
    unwritten_keys,
    unwritten_names,
    unwritten_years,
)
from rag.types import Citation


@dataclass(frozen=True)
class Candidate:
    """A statement of a source that may be quoted."""

    source: int  # index into the citations
    position: int  # index among the source's sentences
    text: str


_CODE = re.compile(r"`[^`]+`|^\s*(?:\$\s+)?(?:pip|rag|export|python|make|curl|git)\s", re.M)
QUESTION_WORDS = frozenset(
    [
        "무엇",
        "뭐",
        "누구",
        "누가",
        "어디",
        "언제",
        "몇",
        "왜",
        "어떻",
        "어떤",
        "어느",
        "얼마",
        "무슨",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
    ]
)
"""Interrogatives: in the question, never in the answer sentence."""
_CAME_UP_WITH = re.compile(
    r"\bc(?:ame|omes?|oming)\s+up\s+with(?:\s+the\s+(word|term|name)\b)?", re.IGNORECASE
)
_CAME = frozenset(["came", "come", "comes", "coming"])


def asked_terms(question: str, terms: Sequence[str]) -> set[str]:
    """The ``question``'s content ``terms``: its question words left out, and "came" of "who
    came up with the Waldorf salad" (it means invented: "their taste came only from the
    sauce" says nothing of who), with "word" of "came up with the word vulcanization"."""
    asked = set(terms) - QUESTION_WORDS
    came = _CAME_UP_WITH.search(question)
    if came is None:
        return asked
    return asked - _CAME - {(came.group(1) or "").lower()}


HOW = re.compile(r"^\s*how\b|어떻게|방법", re.IGNORECASE)
_NOT_TEXT = re.compile(r"[\s\W_]+")


def bigrams(question: str) -> frozenset[str]:
    """The question's character bigrams (letters and digits only, lower case, across word
    boundaries), its interrogatives left out."""
    text = question.lower()
    for word in QUESTION_WORDS:
        text = text.replace(word, " ")
    return frozenset(_grams(text))


def _grams(text: str) -> set[str]:
    """``text``'s character bigrams, spaces and punctuation removed."""
    joined = _NOT_TEXT.sub("", text.lower())
    return {joined[i : i + 2] for i in range(len(joined) - 1)}


def held(q_grams: frozenset[str], text: str) -> float:
    """The share of the question's bigrams ``text`` holds."""
    return len(q_grams & _grams(text)) / len(q_grams) if q_grams else 0.0


def row_key(text: str) -> str:
    """The first cell of a Markdown table row ("| add an LLM backend | `rag/llms/...` |" ->
    "add an LLM backend"), "" for any other statement. A row embeds far from a question (pipes,
    paths, code), while its first cell names what the row is about: "How do I add a
    backend?" is 0.34 from the row above and closer to its key."""
    if not text.lstrip().startswith("|"):
        return ""
    cells = row_cells(text)
    return cells[0] if len(cells) > 1 else ""


def echoes(question: str) -> Callable[[str], bool]:
    """A test for a statement (not itself a question) that holds the whole ``question``, as an
    example command ``rag ask "형태소 분석이 왜 필요한가요?"`` does: it repeats what was
    asked and answers nothing. The question is normalized once, not per statement."""
    asked = _NOT_TEXT.sub("", question.lower())

    def holds(text: str) -> bool:
        if len(asked) < 8 or asks(text):
            return False  # an FAQ's question line stands for the answer after it
        return asked in _NOT_TEXT.sub("", text.lower())

    return holds


def documents(citations: Sequence[Citation]) -> list[list[int]]:
    """For each citation, the indices of the citations from its document (same file and
    record), itself included."""
    keys = [(c.source, c.location.record) for c in citations]
    return [[j for j, other in enumerate(keys) if other == key] for key in keys]


_TOUCH = 8
"""Characters (whitespace a chunker skipped) that may lie between two chunks that touch."""


def threads(citations: Sequence[Citation], by_source: dict[int, list[int]]) -> None:
    """Joins, in ``by_source`` (citation -> its statements, in order), the statements of a
    document's chunks that touch (``Citation.span``): each such citation then maps to one
    list, its chunks' statements in reading order, so that the sentence before or after one
    is found across a chunk boundary ("그래서 ... 절대 경로로 적는다" in one chunk, its reason
    the last sentence of the chunk before). Citations without a span are left alone."""
    spans = {i: c.span for i, c in enumerate(citations) if c.span is not None}
    placed: set[int] = set()
    for i in sorted(spans, key=lambda j: spans[j][0]):
        if i in placed:
            continue
        key = (citations[i].source, citations[i].location.record)
        run, (start, end) = [i], spans[i]
        while True:
            nxt = [
                j
                for j in spans
                if j not in placed
                and j not in run
                and (citations[j].source, citations[j].location.record) == key
                and start < spans[j][0] <= end + _TOUCH  # next, or overlapping this one
                and spans[j][1] > end
            ]
            if not nxt:
                break
            j = min(nxt, key=lambda x: spans[x][0])
            run.append(j)
            start, end = spans[j]
        placed.update(run)
        if len(run) > 1:
            joined = [k for j in run for k in by_source.get(j, [])]
            for j in run:
                if j in by_source:
                    by_source[j] = joined


def how_bonus(text: str) -> float:
    """A "how do I" question wants a command: a line of a code block most, a sentence with
    inline code or a command less."""
    if code_line(text):
        return 0.15
    return 0.05 if _CODE.search(text) else 0.0


def weights(q_terms: set[str], sent_terms: Sequence[set[str]]) -> dict[str, float]:
    """Question term -> rarity among the candidate sentences (absent terms weigh most)."""
    n = len(sent_terms)
    return {t: math.log(1 + (n + 1) / (sum(t in s for s in sent_terms) + 0.5)) for t in q_terms}


Related = Callable[[str], Mapping[str, float]]
"""A question term -> terms close to it in meaning, with their closeness (0-1)."""


def related_cover(
    q_terms: set[str], terms: set[str], by: dict[str, float], related: Related
) -> float:
    """The weighted share (``by``) of the question's terms that ``terms`` lacks but holds a
    term close in meaning to, each counted at that closeness: 남성 for 남자, 소요 for 걸리."""
    total = sum(by.values())
    got = 0.0
    for q in q_terms - terms:
        near = related(q)
        if near:
            got += by[q] * max((near.get(t, 0.0) for t in terms), default=0.0)
    return got / total if total else 0.0


_PREFIX_MIN = 5
"""Letters a shared beginning needs before it joins two names ("set" and "settings" do not)."""


def with_prefixes(q_terms: set[str], terms: Sequence[str]) -> list[str]:
    """``terms`` plus each Latin question term of five letters or more that one of them
    begins with or is the beginning of: "postgres" and "postgresql", "config" and
    "configuration" name the same thing, and no stemmer joins them (nor "mac" and "macos":
    ``_SAME_AS``)."""
    long = [u for u in terms if len(u) >= _PREFIX_MIN]
    present = set(terms)
    extra = [
        t
        for t in q_terms
        if t not in present
        and (
            (
                len(t) >= _PREFIX_MIN
                and t.isascii()
                and t.isalpha()
                and any(u.startswith(t) or t.startswith(u) for u in long)
            )
            or not present.isdisjoint(_SAME_AS.get(t, ()))
        )
    ]
    return [*terms, *extra]


_MAC = ("mac", "macos", "maco", "osx")
_SAME_AS = {name: tuple(other for other in _MAC if other != name) for name in _MAC}
"""Names of one platform that no prefix joins: "can I run it on my mac?" asks what "There is
no macOS build" says (a stemmer writes "macos" as "maco")."""


_LATIN_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9+#.-]*[A-Za-z0-9+#]")
_UNITS = frozenset(
    [
        "kcal",
        "kwh",
        "mph",
        "kph",
        "gb",
        "mb",
        "kb",
        "tb",
        "gib",
        "mib",
        "kib",
        "ghz",
        "mhz",
        "khz",
        "hz",
        "mah",
        "ppm",
        "rpm",
        "fps",
        "dpi",
        "bpm",
    ]
)


def missing_names(question: str, texts: Sequence[str]) -> list[str]:
    """The Latin-script names in a Korean ``question`` (zsh, UTF-16, lookahead; three letters
    or more, units aside) that none of ``texts`` holds: in a Korean question such a word names
    the very thing asked about, and sources that never write it do not talk about it."""
    if not has_hangul(question):
        return []
    said = "\n".join(texts).lower()
    names = (m.group(0) for m in _LATIN_NAME.finditer(question))
    return [
        name
        for name in names
        if len(name) >= 3 and name.lower() not in _UNITS and name.lower() not in said
    ]


def said_once(chosen: Sequence[int], best: int, candidates: Sequence[Candidate]) -> list[int]:
    """``chosen`` without a statement another chosen one holds whole (an FAQ's reply repeats a
    page's sentence): it is said once. ``best`` always stays."""
    return [
        k
        for k in chosen
        if k == best or not any(j != k and candidates[k].text in candidates[j].text for j in chosen)
    ]


def sentences_before(
    chosen: Sequence[int], candidates: Sequence[Candidate], by_source: dict[int, list[int]]
) -> list[str]:
    """The statement before each chosen one in its source's thread ("" opening it)."""
    before = []
    for k in chosen:
        siblings = by_source[candidates[k].source]
        at = siblings.index(k)
        before.append(candidates[siblings[at - 1]].text if at > 0 else "")
    return before


def names_unwritten(
    question: str,
    code: set[str],
    texts: Sequence[str],
    titles: Sequence[str],
    names: Sequence[str],
) -> list[str]:
    """What ``question`` names that none of the sources' ``texts`` (nor their ``titles``, or
    for an English question their documents' ``names``) writes: a Korean name or Latin word,
    a year ("Which city hosted the Olympic marathon of 1900?" over 1896 and 1908), an English
    capitalized name ("Which port serves its Prometheus metrics?", no page naming it), or a
    key of the ``code`` names ("What is the default of max_title_length?")."""
    korean = has_hangul(question)
    missing = (
        [*missing_names(question, texts), *unwritten_names(question, [*texts, *titles])]
        if korean
        else []
    )
    missing += unwritten_years(question, [*texts, *titles])
    if not korean:
        missing += unwritten_en_names(question, [*texts, *titles, *names])
        missing += unwritten_designations(question, [*texts, *titles])
    missing += unwritten_keys(code, [*texts, *titles])
    return missing


def close_runner_up(
    order: Sequence[int],
    scores: Sequence[float],
    says: Callable[[int], bool],
    *,
    among: int,
    ratio: float,
) -> int | None:
    """The first of the ``among`` statements after the best in ``order`` that scores within
    ``ratio`` of the best and ``says`` what was asked (a person's name, a precedence); None
    without one."""
    top = scores[order[0]]
    return next((k for k in order[1 : 1 + among] if scores[k] >= ratio * top and says(k)), None)


def put_first(order: list[int], k: int | None) -> list[int]:
    """``order`` with statement ``k`` moved to the front (unchanged when ``k`` is None)."""
    return order if k is None else [k, *(j for j in order if j != k)]
