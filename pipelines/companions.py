"""Which sentences join the best one in an extractive answer (``companions``): the one before
when the best points back to it ("The job then ends ...", "..., it is the smallest living
bird", 이를 계기로), gives the reason a "That is why ..." follows from, or names who a "he"
is; the one after when the best introduces it, it holds the answer type the best lacks, gives
the reason asked, carries on from the best, or corrects the belief the best reports; else a
close second best; and the one after that names what the best describes ("This manoeuvre is
called tacking."). And the order they are quoted in (``in_reading_order``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.keywords import has_hangul
from rag.pipelines.extractive_rules import Candidate

REFERS_BACK = re.compile(
    r"^\s*(?:이를|이는|이것|이런|이러한|이렇게|이처럼|이때|이 때|이 |이에|이곳|이들|여기서|"
    r"그는|그녀|그것|그 |그래서|따라서|즉)"
)
"""A Korean sentence opening that refers back to the one before (이를, 그는, 이때, 따라서 ...)."""
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
_WOULD = re.compile(r"\bwould\b", re.I)
_INSTEAD = re.compile(r"\W*instead\b", re.I)
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


NAMES_IT = re.compile(
    r"\W*(?:(?:this|that|these|those|such)(?:\s+[a-z]+)?|it|they)\s+(?:is|are|was|were)\s+"
    r"(?:(?:also|often|usually|sometimes)\s+)?(?:called|known\s+as|named)\b",
    re.IGNORECASE,
)
"""A sentence giving the name of what the one before describes ("This manoeuvre is called
tacking.")."""


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
    opening points back to (이를 계기로, 그때까지는, 이때), and the one before that when the
    line before points back in turn ("That is why ..." after "... into that pocket"); the
    next one when the
    best introduces it, when it holds the wanted answer type (or, asked for a ``default``,
    gives one; asked "why", a reason or consequence: "because", "so", "slows", 때문, 므로) and
    the best does not, when it corrects the best (``corrected``), or
    (``follow``; ``follow_continuing``: when it carries on, ``continues``) always; else the
    second best when it scores within ``second_ratio`` (``same_source_second``: only from
    the best one's source, as after an FAQ's reply) and, from another source, comes close in
    meaning itself (its cosine in ``meaning`` at least ``floor``, the answerer's floor: a
    sentence sharing words but not the question's sense tagged along; English tuning sets:
    no answer lost, output tokens -0.3% to -5%). Any joined sentence that ``corrected`` sets
    right ("Left alone, it would ..." then "Instead ...") brings the next one too, and so
    does the best one when the next names what it describes (``NAMES_IT``)."""
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
        if at > 1 and POINTS_BACK.search(candidates[siblings[at - 1]].text):
            # "That is why ..." after "... diffuses into that pocket": what it points to too
            chosen.append(siblings[at - 2])
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
        or corrected(best.text, nxt)
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
    if nxt is not None and siblings[at + 1] not in chosen and NAMES_IT.match(nxt) is not None:
        chosen.append(siblings[at + 1])  # "This manoeuvre is called tacking."
    for k in list(chosen):  # a joined sentence saying what would happen, and what does
        thread = by_source[candidates[k].source]
        after = thread.index(k) + 1
        if (
            after < len(thread)
            and thread[after] not in chosen
            and corrected(candidates[k].text, candidates[thread[after]].text)
        ):
            chosen.append(thread[after])
    return in_reading_order(chosen, candidates, by_source)


def corrected(said: str, then: str) -> bool:
    """``then`` corrects ``said``: a belief and "In fact ..." ("most people assume it has lost
    water" / "In fact a stale loaf holds almost as much water"), or what would happen and what
    does ("Left alone, it would soon drop back into a hole." / "Instead the field sweeps
    ..."): quoted alone, the first says what is not so."""
    if _BELIEVED.search(said) is not None and _CORRECTS.match(then) is not None:
        return True
    return _WOULD.search(said) is not None and _INSTEAD.match(then) is not None


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
