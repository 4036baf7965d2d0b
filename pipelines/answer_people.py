"""Who did it: whether an English question asks who did something, whether a sentence names
someone (any name, or a person's full name), and which statement to quote first for it. A
"who" question the quoted sentences name no one for is declined by the type gate; a runner-up
naming someone goes first (``pipelines/extractive.md`` has what each rule measured)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.pipelines.extractive_rules import close_runner_up, put_first
from rag.pipelines.subjects import DEMONYM, NOT_NAMES

_WHO_DID = re.compile(
    r"^\W*who\s+(?:(?:first|actually|originally|really|later)\s+)?"
    r"(?:was|were|did|had|[a-z]+ed|built|made|wrote|won|came|led|found|took|began|drew|held|"
    r"sent|gave|ran|taught|thought|brought|got|saw|flew|set|put|sang|beat|broke|chose|drove|"
    r"fought|knew|lost|met|paid|rode|rose|said|sold|shot|spoke|stood|threw|told|wore|bought)\b",
    re.IGNORECASE,
)
"""An English question asking who did something in the past ("Who invented ...", "who was
the captain ...", "who came up with ..."): a person or a body, named. Not "Who can ...":
a role answers that ("only admins")."""
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿĀ-ſ"
_CAPITALIZED = re.compile(rf"\b(?:[{_UPPER}][{_LOWER}]+(?:['’-][A-Za-z{_LOWER}]+)*|[A-Z]{{2,}})\b")
"""A capitalized word, accents included ("Rømer", "Eugène", "Viollet-le-Duc"), or an acronym."""


_COMMANDS = re.compile(
    r"[A-Z][a-z]+\s+(?:(?:a|an|the|your|it|its|this|that|each|every|all|one)\b|`)"
)
"""A sentence opening with an instruction: a verb before an article or a code name."""
_LINE_START = re.compile(r"[\s*_>-]*(?:[QA]\s*:\s*)?")
"""What may come before a sentence's first word: list marks, an FAQ's "Q:" or "A:"."""
_NO_ONE = re.compile(
    r"^(?:sun|moon|earth|greek|french|dutch|swiss|thai|welsh|scots|irish|english|roman|arab|"
    r"bc|bce|ad|ce|am|pm)$"
)
"""Capitalized words that name no one who did something: the Sun, the Moon, the Earth,
adjectives of a people ("a Greek device"; with ``DEMONYM``: "Norwegian") and eras or times
of day ("the first century BC")."""


def names_someone(question: str, sentence: str) -> bool:
    """``sentence`` holds a capitalized word or acronym the ``question`` does not, other than
    a month, a day, a word that opens sentences ("In", "It", "The") or an instruction ("Give a
    cluster a name"), the Sun or Moon, an adjective of a people ("Greek", "Norwegian"), an
    era ("BC") or a designation ("EAN-13")."""
    asked = {w.lower() for w in re.findall(rf"[A-Za-z{_LOWER}]+", question)}
    for m in _CAPITALIZED.finditer(sentence):
        word = m.group(0).lower()
        if word in asked or word in NOT_NAMES or _NO_ONE.match(word):
            continue
        if _COMMANDS.match(sentence, m.start()) and _LINE_START.fullmatch(sentence[: m.start()]):
            continue  # an instruction's verb: "Give a cluster a name", "Run `scan`"
        if len(word) > 4 and DEMONYM.search(word):
            continue
        if _DESIGNATION.match(sentence, m.end()):
            continue  # a standard's or model's designation: "EAN-13", "B-52"
        return True
    return False


_DESIGNATION = re.compile(r"-\d")
"""A capitalized word joined to a number ("EAN-13", "COVID-19"): a designation, no one."""


def asks_who_did(question: str) -> bool:
    """An English question asking who did something in the past (``_WHO_DID``)."""
    return _WHO_DID.search(question) is not None


def names_no_one(question: str, quoted: Sequence[str]) -> bool:
    """True when an English question asks who did something (``_WHO_DID``) and the ``quoted``
    sentences name no one (``names_someone``). "Who built the Antikythera mechanism?" is not
    answered by "Much of what is known comes from a study in 2005" nor by "a hand-powered
    Greek device that predicted the positions of the Sun and Moon"."""
    if _WHO_DID.search(question) is None:
        return False
    return not any(names_someone(question, sentence) for sentence in quoted)


def named_first(
    order: list[int], scores: Sequence[float], texts: Sequence[str], question: str
) -> list[int]:
    """``order`` with a runner-up that names someone first when the best statement names no
    person, asked who did it: "Who first made oxygen?" over "Oxygen is element 8 ..." and
    "Scheele made it first ..." A runner-up writing a person's full name ("George Carmack",
    ``names_person``) among the next three within ``_PERSON_RATIO`` of the best score comes
    first (also over a best naming only a thing: "the Run for the Roses"); when the best
    names no one at all, else one naming anything (a place: "gold found at Nome, Alaska")
    within 75%, among the next two."""
    if not order or names_person(question, texts[order[0]]):
        return order
    named = close_runner_up(
        order, scores, lambda k: names_person(question, texts[k]), among=3, ratio=_PERSON_RATIO
    )
    if named is None and not names_someone(question, texts[order[0]]):
        named = close_runner_up(
            order, scores, lambda k: names_someone(question, texts[k]), among=2, ratio=0.75
        )
    return put_first(order, named)


_PERSON_RATIO = 0.65
"""How far below the best statement a runner-up writing a person's full name may score and
still answer "who did it" first (the best names no one, and the gate would decline it)."""
_PARTICLES = frozenset(  # "Hans von Ohain", "Leonardo da Vinci"
    ["de", "da", "di", "du", "del", "der", "den", "van", "von", "le", "la", "bin", "ibn", "al", "y"]
)
_PLACE_WORDS = """
museum observatory river creek pass lake mount mountain mountains alps island islands sea
ocean bay gulf strait channel coast valley desert peninsula street road square bridge canal
tower castle abbey church cathedral palace hall park gallery garden gardens university college
school institute academy society company corporation prize award war wars cup games navy army
fleet police station airport city county state states kingdom empire republic province
district hill hills forest falls harbour harbor port netherlands north south
east west northern southern eastern western new old great little upper lower saint st san
santa los las fort cape
"""
_PLACES = frozenset(_PLACE_WORDS.split())
"""Words that make a run of capitals a place, a body or an event, not a person ("Paris
Observatory", "Rabbit Creek", "National Museum", "Nobel Prize")."""
_RUN = re.compile(
    rf"[{_UPPER}][{_LOWER}]+(?:-[A-Za-z{_LOWER}]+)*(?:['’]s)?"
    rf"(?:\s+(?:(?:{'|'.join(sorted(_PARTICLES))})\s+)*[{_UPPER}][{_LOWER}]+"
    rf"(?:-[A-Za-z{_LOWER}]+)*(?:['’]s)?)+"
)


def names_person(question: str, sentence: str) -> bool:
    """``sentence`` writes a person's name the ``question`` does not: two or more capitalized
    words in a row ("Edvard Munch", "Ole Rømer", "Eugène Viollet-le-Duc"), none opening
    sentences, a month, a people's adjective or asked, none a place's, body's or event's word
    ("Paris Observatory", "Norway's National Museum"), no possessive but on the last."""
    asked = {w.lower() for w in re.findall(rf"[A-Za-z{_LOWER}]+", question)}
    for m in _RUN.finditer(sentence):
        words = [w.lower() for w in m.group(0).split() if w.lower() not in _PARTICLES]
        while words and (
            words[0] in NOT_NAMES or _NO_ONE.match(words[0]) or DEMONYM.search(words[0])
        ):
            words = words[1:]  # "The American Albert Michelson"
        bare = [re.sub(r"['’]s$", "", w) for w in words]
        if (
            len(words) >= 2
            and not any(w.endswith(("'s", "’s")) for w in words[:-1])
            and not any(w in asked or w in _PLACES or w in NOT_NAMES for w in bare)
        ):
            return True
    return False
