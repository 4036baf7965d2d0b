"""What an English question counts or times, beyond the type of its answer: the things a "how
many" question counts (ships, old result folders), what a "how long" one times (an app
password, sensor readings), whether it asks a lifespan; a quoted sentence naming none of them
counts or times something else (for ``rag.pipelines.type_gate``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.pipelines.subjects import NOT_NAMES

_EN_COUNTED = re.compile(
    r"\bhow\s+many\s+(.*?)(?=\s+(?:does|do|did|is|are|was|were|can|could|will|would|should|"
    r"has|have|had|may|might|must|haven't|hasn't|aren't|isn't|don't|doesn't|didn't|won't|"
    r"can't|of|per|in|on|at|for|before|after|to|that|get|go|make|live)\b|\W*$)",
    re.IGNORECASE,
)
_UNITS_AND_TIMES = re.compile(
    r"^(?:seconds?|secs?|minutes?|mins?|hours?|days?|weeks?|months?|years?|times?|[kmgt]i?b|"
    r"bytes?|\w*bytes|\w*met(?:re|er)s?|miles?|feet|inch(?:es)?|degrees?|percent|\w*grams?|"
    r"tonnes?|tons?|pounds?|lit(?:re|er)s?)$",
    re.IGNORECASE,
)


def counted_things(question: str) -> list[str]:
    """The words naming what an English "how many" question counts ("How many ships did the
    Hanseatic League have" -> ships; "how many old result folders are kept" -> old, result,
    folders), [] when it counts a unit (seconds, MB: the answer type checks those) or asks
    no count."""
    m = _EN_COUNTED.search(question)
    if m is None:
        return []
    kinds = _KINDS_OF.match(question, m.end(1))
    if kinds is not None and _KIND_WORDS.fullmatch(m.group(1).strip()):
        # "how many kinds of alligator are there" counts alligators by kind: a sentence
        # saying "two alligator species" counts them, whatever word it uses for "kinds"
        return counted_things(f"how many {question[kinds.end() :]}")
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]+", m.group(1))]
    # "how many crew members sailed on ...": the verb after the counted words is no part of
    # them (a sentence saying "sailed" need not count crew)
    verb = next((i for i, w in enumerate(words) if i and _PAST_VERB.match(w)), len(words))
    words = words[:verb]
    if not words or _UNITS_AND_TIMES.match(words[-1]):
        return []
    return [w for w in words if len(w) >= 3]


_KIND_WORDS = re.compile(
    r"(?:different\s+)?(?:kinds?|types?|sorts?|species|breeds?|varieties|variety|forms?|"
    r"classes|class|categories|category)",
    re.IGNORECASE,
)
_KINDS_OF = re.compile(r"\s+of\s+", re.IGNORECASE)
_PAST_VERB = re.compile(
    r"^(?:\w{2,}ed|ran|won|took|came|went|fought|flew|fell|made|saw|got|left|lost|sank|"
    r"sold|built|held|kept|met|paid|sent|spent|stood|wrote|rode|drove|gave|became|began)$"
)


_EN_LASTING = re.compile(
    r"\bhow\s+long\s+(?:does|do|did|will|would|can|is|are|was|were|should)\s+(.*?)\s+"
    r"(?:take|last|stay|run|wait|live|remain|be|get|need|sit|spend|survive|stick|"
    r"(?:keep|hold(?:\s+on\s+to)?)\s+(.*?)(?=\s+(?:before|for|after|by|when|until|once)\b|\W*$))\b",
    re.I,
)
_NOT_LASTING = frozenset(["it", "i", "you", "we", "they", "she", "he", "this", "that", "there"])


def lasting_things(question: str) -> list[str]:
    """The words naming what an English "how long does X take / last / stay valid" question
    times ("how long does an app password stay valid" -> password; "how long does hollowlatch
    keep sensor readings" -> hollowlatch, sensor, readings), [] for "how long does it take" or
    no such question."""
    m = _EN_LASTING.search(question)
    if m is None:
        return []
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]+", m.group(1))]
    if not words or words[0] in _NOT_LASTING:
        return []
    kept = re.findall(r"[A-Za-z][A-Za-z-]+", m.group(2) or "")  # "keep sensor readings"
    return [w for w in [*words, *map(str.lower, kept)] if len(w) >= 4 and w not in NOT_NAMES]


_LIFESPAN_ASKED = re.compile(
    r"\bhow\s+long\s+(?:does|do|did|can|could|will|would)\s+.+?\s+(?:live|survive)\b", re.I
)
_LIFE = re.compile(r"\b(?:liv(?:e|es|ed|ing)|life(?:span|time)?s?|survive[sd]?)\b", re.I)


def unsaid_lifespan(question: str, texts: Sequence[str]) -> bool:
    """An English question asks how long something lives ("How long do Bactrian camels
    live?") and none of ``texts`` says living, a life or a lifespan: "a thirsty camel can
    drink about 100 litres in ten minutes" times something else."""
    return _LIFESPAN_ASKED.search(question) is not None and not any(_LIFE.search(t) for t in texts)


def names_counted(words: Sequence[str], text: str) -> bool:
    """``text`` names one of the counted ``words`` (singular or plural, or a word sharing its
    first five letters: "migrations" in ``tidewright_pending_migrations``)."""
    lowered = text.lower()
    return any(w.removesuffix("s")[:5] in lowered for w in words)
