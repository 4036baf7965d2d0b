"""The sentence-level rules of the extractive answerer (``rag.pipelines.extractive``): which
words ask, which sentences carry on from or point back to the one before and so join the best
one (``companions``), FAQ questions standing for their answers (and one asked alike, whose
reply wins), one-word replies, documents among the sources, term rarity, character bigrams,
names that share a beginning, Latin names no source writes and the embedders' cosine floors.
Kept apart so that the answerer's module holds the scoring and the gates."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rag.keywords import has_hangul
from rag.pipelines.answer_specs import unwritten_designations
from rag.pipelines.statements import asks, code_line
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
REFERS_BACK = re.compile(
    r"^\s*(?:이를|이는|이것|이런|이러한|이렇게|이처럼|이때|이 때|이 |이에|이곳|이들|여기서|"
    r"그는|그녀|그것|그 |그래서|따라서|즉)"
)
"""A Korean sentence opening that refers back to the one before (이를, 그는, 이때, 따라서 ...)."""
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


_KO_POINTS_BACK = re.compile(
    r"^\s*(?:이를(?!\s*닦)|이것을|이 때문에|그때|그 때|그동안|그 뒤|그 후|이후|이때|이 때)"
)
"""A Korean sentence opening with what the one before names (이를 계기로, 그때까지는, 이때):
quoted alone it does not say what "이" or "그때" is (not 이를 닦다, "to brush the teeth")."""
_KO_SUBJECT = re.compile(r"[가-힣]+(?:은|는|이|가)\s")
"""A Korean word with a topic or subject particle: the clause names its own subject."""
WHY = re.compile(r"\bwhy\b|왜|이유|까닭", re.IGNORECASE)
THAT_IS_WHY = re.compile(
    r"^\s*(?:(?:that|this)(?:'s|\s+is|\s+was)\s+why\b|그래서|이 때문에|그 때문에|이런 까닭에)",
    re.IGNORECASE,
)
"""A sentence that gives a consequence of the one before ("That is why ...", "이 때문에 ..."):
to a "why" question, the sentence before it is the reason."""
_BECAUSE = re.compile(
    r"\b(?:because|since|so|thus|therefore|hence|due\s+to|caus(?:e|es|ed|ing)|reasons?|"
    r"as\s+a\s+result|in\s+order|so\s+that|otherwise|would|could|slows?|prevents?|keeps?|"
    r"lets?|allows?|makes?|means?|think|thought|believed?|explains?|explained|explanation)\b|"
    r"때문|위해|위한|려고|므로|덕분|탓|까닭|이유",
    re.IGNORECASE,
)
"""A sentence that gives a reason or a consequence (for a "why" question)."""
HOW = re.compile(r"^\s*how\b|어떻게|방법", re.IGNORECASE)
ASKS_WHO = re.compile(r"^\W*who\b|누구|누가", re.IGNORECASE)
"""A question asking who: the person the best sentence's "he" or "그는" means is named in the
sentence before it (``means_someone_before``)."""
_EN_EARLY_PERSON = re.compile(
    r"^\W*(?:[\w'-]+\W+){0,4}(?:he|she|they)\b|^[^,;:]*,\s+(?:he|she|they)\b", re.IGNORECASE
)


def means_someone_before(text: str) -> bool:
    """True when a sentence's person is named before it: an English one with he, she or they
    in its first five words ("In 1833 he sent ...") or right after its opening clause
    ("Looking at a thin slice of cork, he saw ..."), a Korean one that ``continues``
    (그는 ..., 이때 ...)."""
    if has_hangul(text):
        return continues(text)
    return _EN_EARLY_PERSON.search(text) is not None


POINTS_BACK = re.compile(
    r"^\W*(?:the\s+)?[\w'-]+\s+then\b|^\W*(?:then|such)\b|"
    r"^\W*(?:[\w',-]+\s+){0,12}(?:therefore|thus|consequently|hence)\b|"
    r"\b(?:this|that) one\b|\b(?:as|see|the) above\b|"
    r"\babove (?:setting|command|line|variable|option|file|flag)s?\b|"
    r"\b(?:uses?|to|from|in|on|at|into|with|without|by|for|of|under|through)\s+(?:that|those)\s+"
    r"(?!(?:is|are|was|were|has|have|can|will|the|a|an|it|you|they)\b)[a-z]+\b",
    re.IGNORECASE,
)
"""An English sentence that points back to the statement before it ("..., so set this one",
"as above", "`--store pgvector` uses that server", "relative to that root", "The job then
ends with exit code 137" after what kills it, "Such eruptions ...", "A primary of 1,000
turns therefore steps ..." after the rule it follows from): quoted alone it does not say what
it points to. "that" after a verb or preposition and before a noun, not
the conjunction ("so that the", "to that it")."""


_BELIEVED = re.compile(
    r"\b(?:most|many)\s+people\s+(?:assume|believe|think)|\b(?:popular|common)\s+belief\b|"
    r"\bmyth\b|\bit\s+is\s+(?:often|widely|commonly)\s+(?:said|believed|thought)\b",
    re.I,
)
_CORRECTS = re.compile(r"\W*(?:in\s+fact|actually|in\s+reality|in\s+truth)\b", re.I)
"""A sentence reporting a belief ("Stale bread feels dry, so most people assume it has lost
water") and the next correcting it ("In fact a stale loaf holds almost as much water"): quoted
alone, the first says what is not so."""
_NOT_TEXT = re.compile(r"[\s\W_]+")
_PRONOUN_SUBJECT = re.compile(
    r"^\W*(?:he|she|they|it)\s+(?:is|was|are|were|has|had)\b|"
    r"^[^,;:]*,\s+(?:he|she|they|it)\s+(?:is|was|are|were)\b|"
    r"^\W*(?:if|when|once|unless|until|while)\s+(?:he|she|they|it)\s+(?:is|was|are|were)\b|"
    r"^(?:[^,;:]*,\s+)?(?:this|these)\s+[a-z]+\s+(?:is|are|was|were|has|have|can|will)\b",
    re.IGNORECASE,
)
"""An English sentence whose subject is a pronoun or what one points to ("It was much thinner
...", "About 5 cm long and under 2 grams, it is the smallest living bird", "If it is unset, a
random key is made", "Unlike `ignore` ..., this file is committed"): quoted alone it does not
say what "it" or "this file" is, which the sentence before names."""


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


_EN_CARRIES_ON = re.compile(
    r"^\W*(?:(?:but|and|so|then|yet|still|however|instead|also|when|if|because|since|after|"
    r"once|although|though)\b[\s,]*)?(?:he|she|they|his|her|their|it|its)\b|"
    r"^\W*(?:once|when|after|if)\s+(?:it|he|she|they)\s+[^,]{1,40},\s+(?:he|she|they|it)\b|"
    r"^\W*(?:[\w'-]+\W+){0,4}(?:therefore|thus|consequently)\b",
    re.IGNORECASE,
)
"""An English sentence carrying on from the one before: its subject is a pronoun ("He began
to recover", "Its decay acts as a clock", "Once it is released, they find nothing pending")
or it draws a consequence ("Many species therefore enter torpor"). Not "this"/"these", which
open new points in documentation as often as they carry on."""


def continues(text: str) -> bool:
    """True when a sentence carries on from the one before. Korean: it opens with a reference
    back (이를 ... 라 한다, 그는 ..., 이때 ...) or its first clause names no subject of its own
    ("1994학년도 입시부터 도입되었다" after the sentence naming the exam). English: see
    ``_EN_CARRIES_ON``."""
    if not has_hangul(text):
        return _EN_CARRIES_ON.search(text) is not None
    return REFERS_BACK.match(text) is not None or not _KO_SUBJECT.search(text.split(",")[0])


def companions(
    order: Sequence[int],
    scores: Sequence[float],
    candidates: Sequence[Candidate],
    by_source: dict[int, list[int]],
    *,
    question: str,
    wants: re.Pattern[str] | None,
    default: re.Pattern[str] | None = None,
    follow: bool,
    follow_continuing: bool,
    second_ratio: float,
    same_source_second: bool,
    meaning: Sequence[float] | None = None,
    floor: float = 0.0,
) -> list[int]:
    """The best candidate (``order[0]``) and the sentences that join it, in reading order:
    the line before when it introduces the best one (ends with ``:``), gives the reason a
    "That is why ..." follows from, is what "this one" points to, or names what the best
    one's pronoun subject is ("... it is the smallest living bird") or, in Korean, what its
    opening points back to (이를 계기로, 그때까지는, 이때); the next one when the
    best introduces it, when it holds the wanted answer type (or, asked for a ``default``,
    gives one; asked "why", a reason or consequence: "because", "so", "slows", 때문, 므로) and
    the best does not, when it corrects the belief the best reports ("most people assume
    ..." then "In fact ..."), or
    (``follow``; ``follow_continuing``: when it carries on, ``continues``) always; else the
    second best when it scores within ``second_ratio`` (``same_source_second``: only from
    the best one's source, as after an FAQ's reply) and, from another source, comes close in
    meaning itself (its cosine in ``meaning`` at least ``floor``, the answerer's floor: a
    sentence sharing words but not the question's sense tagged along; English tuning sets:
    no answer lost, output tokens -0.3% to -5%)."""
    chosen = [order[0]]
    best = candidates[order[0]]
    siblings = by_source[best.source]
    at = siblings.index(order[0])
    if at > 0 and (
        candidates[siblings[at - 1]].text.rstrip().endswith(":")
        or (WHY.search(question) and THAT_IS_WHY.match(best.text))
        or POINTS_BACK.search(best.text)
        or _PRONOUN_SUBJECT.search(best.text)
        or _KO_POINTS_BACK.match(best.text) is not None
        or (ASKS_WHO.search(question) is not None and means_someone_before(best.text))
    ):
        chosen.append(siblings[at - 1])
    nxt = candidates[siblings[at + 1]].text if at + 1 < len(siblings) else None
    if nxt is not None and (
        follow
        or (follow_continuing and continues(nxt))
        or best.text.rstrip().endswith(":")
        or (wants is not None and not wants.search(best.text) and wants.search(nxt))
        or (default is not None and not default.search(best.text) and default.search(nxt))
        or (
            WHY.search(question) is not None
            and _BECAUSE.search(best.text) is None
            and _BECAUSE.search(nxt) is not None
        )
        or (_BELIEVED.search(best.text) is not None and _CORRECTS.match(nxt) is not None)
    ):
        chosen.append(siblings[at + 1])
    elif (
        len(order) > 1
        and order[1] not in chosen  # already joined as the sentence before the best
        and scores[order[1]] >= second_ratio * scores[order[0]]
        and (
            candidates[order[1]].source == best.source
            or (not same_source_second and (meaning is None or meaning[order[1]] >= floor))
        )
    ):
        chosen.append(order[1])
    return in_reading_order(chosen, candidates, by_source)


def in_reading_order(
    chosen: Sequence[int], candidates: Sequence[Candidate], by_source: dict[int, list[int]]
) -> list[int]:
    """``chosen`` in reading order: a thread (chunks joined by ``threads``) by its first
    statement's source, then by place in the thread."""
    return sorted(
        chosen,
        key=lambda k: (
            candidates[by_source[candidates[k].source][0]].source,
            by_source[candidates[k].source].index(k),
        ),
    )


def row_key(text: str) -> str:
    """The first cell of a Markdown table row ("| add an LLM backend | `rag/llms/...` |" ->
    "add an LLM backend"), "" for any other statement. A row embeds far from a question (pipes,
    paths, code), while its first cell names what the row is about: "How do I add a
    backend?" is 0.34 from the row above and closer to its key."""
    if not text.lstrip().startswith("|"):
        return ""
    cells = text.strip().strip("|").split("|")
    return cells[0].strip() if len(cells) > 1 else ""


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
