"""Events an English question asks about — a birth, a death, a win, someone's age at the
time — and how a sentence that says the event writes it. The extractive answerer's ranking
prefers such a sentence and its ``type_gate`` declines when the quoted sentences never say
the event (``pipelines/extractive.md`` has what each check measured)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.pipelines.extractive_rules import close_runner_up, put_first

_EVENTS = (
    ("born", re.compile(r"\bborn\b", re.I), re.compile(r"born\b|birth", re.I)),  # newborn
    (
        "died",
        re.compile(r"\b(?:die[sd]?|death)\b", re.I),
        re.compile(
            r"\b(?:die[sd]?|dying|death|dead|killed|kill(?:s|ing)?|perish(?:ed)?|drown(?:ed)?|"
            r"lost\s+(?:their|his|her)\s+li(?:fe|ves)|fatalit|casualt|victims?|executed|"
            r"murdered|assassinated|survived|survivors?)",
            re.I,
        ),
    ),
)
"""Events an English quantity or date question may be about (born, died), and the words a
sentence saying that event writes."""


def lived(question: str) -> bool:
    """``question`` asks when or how someone was born or died (``_EVENTS``)."""
    return any(asked.search(question) for _, asked, _ in _EVENTS)


def unsaid_event(question: str, texts: Sequence[str]) -> str | None:
    """The event (born, died) ``question`` asks the date or count of that none of ``texts``
    says, else None."""
    for event, asked, said in _EVENTS:
        if asked.search(question) and not any(said.search(t) for t in texts):
            return event
    return None


_WHO_WON = re.compile(
    r"\b(?:who|which\s+(?:\w+\s+)?(?:team|side|country|nation|club|crew|boat|player))\s+"
    r"(?:won|wins|has\s+won|had\s+won|came\s+first)\b|\bwho\s+was\s+the\s+winner\b",
    re.I,
)
"""An English question asking who won ("who won the first women's boat race?", "which team
won in 2013?")."""
WON = re.compile(
    r"\b(?:won|wins?|winners?|winning|victor(?:y|ies|ious|s)?|beat(?:s|ing)?|defeat(?:s|ed|ing)?|"
    r"champions?|triumph(?:s|ed)?|came\s+first|took\s+the\s+(?:title|trophy|cup|prize)|"
    r"precedence|overrides?)\b",
    re.I,
)
"""A sentence saying who won: "Uruguay won the deciding match", "beat Emirates Team New
Zealand 9-8", "The soroban won four of the five rounds"."""


_WHICH_WINS = re.compile(
    r"\bwhich\s+(?:one\s+)?(?:wins|takes\s+(?:precedence|effect)|counts|is\s+used|applies)\b|"
    r"\bwhat\s+takes\s+precedence\b",
    re.I,
)
"""Which of two settings wins ("set in the file and as an env var, which one wins?"): asked
of a precedence, which sources say in many ways, so only the ranking asks for ``WON``."""


def asks_which_wins(question: str) -> bool:
    """True when ``question`` asks who won or which setting wins (``WON`` answers it)."""
    return asks_who_won(question) or _WHICH_WINS.search(question) is not None


def asks_precedence(question: str) -> bool:
    """True when ``question`` asks which of two settings wins (``_WHICH_WINS``)."""
    return _WHICH_WINS.search(question) is not None


def stated_first(
    order: list[int], scores: Sequence[float], texts: Sequence[str], *, ratio: float = 0.7
) -> list[int]:
    """``order`` with a runner-up among the next three that states a precedence (``WON``:
    "A variable beats the file") first, when the best states none (`max_checks = 500`) and
    the runner-up scores within ``ratio`` of it: asked which setting wins, only such a
    sentence answers."""
    if not order or WON.search(texts[order[0]]):
        return order
    said = close_runner_up(
        order, scores, lambda k: WON.search(texts[k]) is not None, among=3, ratio=ratio
    )
    return put_first(order, said)


def asks_who_won(question: str) -> bool:
    """True when an English ``question`` asks who won (``_WHO_WON``)."""
    return _WHO_WON.search(question) is not None


_AGE_ASKED = re.compile(
    r"\bhow\s+old\s+(?:was|were)\b.*\b(?:when|who|at\s+the\s+time)\b", re.I | re.DOTALL
)
"""How old someone was at an event ("how old was Mehmed II when he besieged ...", "how old
was the girl who named Pluto?"), not how old a thing is ("How old was the shroud?")."""
AGE = re.compile(
    r"\baged\s+\d|\bage\s+of\s+\d|\b\d{1,3}(?:\s+|-)years?(?:\s+|-)old\b|"
    r"\bat\s+\d{1,3}\b(?![\d.,:%]|\s*(?:[ap]\.?m\b|percent|per\s+cent|degrees?|°|km|kg|m\b))|"
    r"\b(?:he|she|they)\s+(?:was|were)\s+(?:only\s+|just\s+)?\d{1,3}\s+(?:when|as)\b",
    re.I,
)
"""An age as a sentence gives one: "aged 45", "at the age of 80", "then only 21 years old",
"an 11-year-old schoolgirl", "married at 19", "he was 26 when he began" (not "at 9 pm", "at
30%")."""


def asks_age(question: str) -> bool:
    """True when an English ``question`` asks someone's age at an event (``_AGE_ASKED``)."""
    return _AGE_ASKED.search(question) is not None


_ASKS_CAUSE = re.compile(
    r"^\W*why\b|\bwhy\s+(?:do|does|did|is|are|was|were|can|can't|doesn't|don't|isn't)\b|"
    r"\bwhat\s+(?:makes|made|causes|caused)\b|\bhow\s+come\b|\bwhat\s+is\s+the\s+(?:reason|cause)\b",
    re.IGNORECASE,
)
"""An English question asking a cause: "why does ...", "what makes frozen water lighter"."""
_CAUSE_STATED = re.compile(
    r"\bbecause\b|\bthe\s+(?:reason|cause)\b|\b(?:is|are|was|were)\s+(?:caused\s+by|due\s+to)\b|"
    r"\bdue\s+to\b|\bowing\s+to\b|\bresults?\s+from\b|\bcomes?\s+from\b",
    re.IGNORECASE,
)
"""A sentence stating a cause: "because ...", "The cause is the hydrogen bond", "due to"."""
CAUSE_BONUS = 0.3
"""What a sentence stating a cause adds to its score, asked why: over twenty-two English
tuning sets the best sentence held the answer for 3 more questions and 0 fewer (0.4: -1)."""


def asks_cause(question: str) -> bool:
    """An English question asking why something is or happens."""
    return _ASKS_CAUSE.search(question) is not None


def cause_bonus(text: str, gives_reason: bool = False) -> float:
    """``CAUSE_BONUS`` for a sentence that states a cause ("The reason is a chemical defence
    ..."), or ``gives_reason`` for what the question asks (``reasons_given``), else 0: a
    why-question's answer says "because", and the sentence restating what happens shares
    more of its words."""
    return CAUSE_BONUS if gives_reason or _CAUSE_STATED.search(text) else 0.0


_THEREFORE = re.compile(r",\s+so\s+(?!that\b)|\bwhich\s+is\s+why\s+", re.IGNORECASE)
"""Where a sentence turns from a cause to what follows from it ("Water cannot get hotter than
100 °C, so ... it steams instead of browning"; not the purpose of "so that")."""


_LIGHT_VERBS = frozenset(
    ["make", "made", "get", "got", "keep", "kept", "take", "took", "goe", "went", "come", "came"]
)
"""Verbs a why-question asks with ("Why doesn't rain make a flytrap snap shut?") that say
nothing of which consequence it asks about ("..., so it makes up for this by ...")."""


def reasons_given(
    texts: Sequence[str], asked: set[str], terms: Callable[[list[str]], list[set[str]]]
) -> list[bool]:
    """For each sentence, whether it gives the reason for what a why-question ``asks`` (its
    content terms): it turns from a cause to a consequence (``_THEREFORE``), and the
    consequence holds more of the question's terms than the cause does, at least one (the
    effect asked about follows "so"; "..., so the tree keeps rebuilding it" answers no
    question about why the tree does something else; ``_LIGHT_VERBS`` do not count)."""
    asked = asked - _LIGHT_VERBS
    turns = [_THEREFORE.search(text) for text in texts]
    parts = [
        part
        for text, turn in zip(texts, turns, strict=True)
        if turn is not None
        for part in (text[: turn.start()], text[turn.end() :])
    ]
    read = iter(terms(parts)) if parts else iter(())
    given = []
    for turn in turns:
        if turn is None:
            given.append(False)
            continue
        cause, effect = len(asked & next(read)), len(asked & next(read))
        given.append(effect > cause)
    return given
