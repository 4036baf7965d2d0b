"""What a question asks about, beyond the type of its answer: the thing a Korean one measures
("탁구 라켓 무게는 몇 g" measures 라켓), the kind of place or body it asks for ("어느
박물관"), the word of a contrasted set or the name it asks (하한, 한라급), the period an
English one asks a rate per (per month). A quoted sentence that gives another (the ball's
weight, the city a museum is in, 상한, 백두급, per year) answers another question: the
extractive answerer declines."""

from __future__ import annotations

import re

from rag.keywords import proper_compounds

_KO_MEASURES = (
    "높이|길이|무게|깊이|둘레|너비|넓이|면적|수심|기온|온도|전압|속도|지름|반지름|두께|해발|인구|"
    "거리|크기|부피|용량"
)
_KO_MEASURED = re.compile(
    rf"([가-힣A-Za-z0-9]+?)(?:의|에서의)?\s+(?:{_KO_MEASURES})(?:은|는|이|가|를|을|도)?\s.*(?:몇|얼마)"
)
_KO_PARTICLE = re.compile(r"(?:의|은|는|이|가|에서|에|도|를|을|까지|부터|으로|로|와|과)$")


def measured_subject(question: str) -> str | None:
    """What a Korean question measures, the word before the measure ("탁구 라켓 무게는 몇 g" ->
    라켓, "에펠탑 높이는 몇 미터" -> 에펠탑), None without one. A sentence giving the weight of
    a ball or the height of another mountain does not answer it."""
    m = _KO_MEASURED.search(question)
    if m is None:
        return None
    word = _KO_PARTICLE.sub("", m.group(1))
    return word if len(word) >= 2 and word not in ("몇", "얼마", "평균적") else None


def names_subject(subject: str, text: str) -> bool:
    """``text`` names the measured ``subject``, or the first two syllables of a compound of three
    or more (탁구공 under a page on 탁구)."""
    return subject in text or (len(subject) >= 3 and subject[:2] in text)


_NAMED_KINDS = "박물관|미술관|도서관|대학교|대학|은하|병원|공항|해전|관절|성당"
"""Kinds whose members carry the kind in their Korean name (국립중앙박물관, 서울대학교, M87 은하,
사천 해전). Not 나라, 도시, 절, 항구 or 파일: 신라, 피렌체, 해인사, 부산항, authorized_keys name none."""
_ASKED_KIND = re.compile(rf"(?:어느|어떤|무슨)\s*({_NAMED_KINDS})")


def asked_kind(question: str) -> str | None:
    """The kind of place or body a Korean question asks for ("어느 박물관에 있어요?" -> 박물관),
    None when it asks for no such kind."""
    m = _ASKED_KIND.search(question)
    return m.group(1) if m else None


_CONTRASTS = (
    ("상한", "하한"),
    ("최대", "최소"),
    ("최고", "최저"),
    ("동쪽", "서쪽", "남쪽", "북쪽"),
    ("1차", "2차"),
)
"""Words of which a question asks one and a passage may give another beside it: the upper limit
for the lower, the north gate for the east one."""


def contrasted(question: str, said: str) -> tuple[str, str] | None:
    """(what a Korean question asks, what ``said`` gives instead) when the question names one
    word of a contrasted set (하한, 동쪽) that ``said`` does not hold while it holds another of
    the set (상한, 북쪽): "실업급여 하루 하한액은?" is not answered by "하루 상한액은 66,000원";
    None otherwise."""
    for words in _CONTRASTS:
        asked = [w for w in words if w in question]
        if len(asked) != 1 or asked[0] in said:
            continue
        instead = next((w for w in words if w != asked[0] and w in said), None)
        if instead is not None:
            return asked[0], instead
    return None


def sibling(question: str, said: str) -> tuple[str, str] | None:
    """(the name a Korean question asks about, the sibling ``said`` gives instead) when the
    question names something (``proper_compounds``: 한라급, 흥보가) that ``said`` does not, and
    ``said`` names another of its kind instead: as long, the same last syllable, another first
    one (백두급, 춘향가), not itself in the question. "한라급은 몇 kg" is not answered by
    "백두급은 140kg 이하"; None otherwise."""
    asked = [w for w in proper_compounds(question) if w not in said]
    if not asked:
        return None
    given = sorted(proper_compounds(said))
    for name in sorted(asked):
        for other in given:
            if (
                len(other) == len(name)
                and other[-1] == name[-1]
                and other[0] != name[0]
                and other not in question
            ):
                return name, other
    return None


_PERIODS = ("second", "minute", "hour", "day", "week", "month", "year")
_PERIODICALLY = {
    "hourly": "hour",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "yearly": "year",
    "annually": "year",
    "annual": "year",
}
_EN_RATE = re.compile(
    rf"\b(?:(?:per|a|an|each|every)\s+({'|'.join(_PERIODS)})\b|({'|'.join(_PERIODICALLY)})\b)",
    re.IGNORECASE,
)
_EN_PERIOD = re.compile(
    rf"\b(?:({'|'.join(_PERIODS)})s?|({'|'.join(_PERIODICALLY)}))\b", re.IGNORECASE
)


def _periods(pattern: re.Pattern[str], text: str) -> set[str]:
    """The periods ``pattern`` finds in ``text``, each as its noun (monthly -> month)."""
    words = ((m.group(1) or m.group(2)).lower() for m in pattern.finditer(text))
    return {_PERIODICALLY.get(w, w) for w in words}


def other_period(question: str, said: str) -> tuple[str, str] | None:
    """(the period an English question asks a rate per, the period ``said`` gives one per
    instead) when ``said`` never names the one asked: "How much does it cost per month?" is
    not answered by "$96 per year". None when the question asks per no period, or per two
    ("month to month instead of yearly")."""
    asked = _periods(_EN_RATE, question)
    if len(asked) != 1 or asked & _periods(_EN_PERIOD, said):
        return None
    given = sorted(_periods(_EN_RATE, said) - asked)
    return (next(iter(asked)), given[0]) if given else None
