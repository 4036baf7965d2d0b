"""What a Korean question asks about, beyond the type of its answer: the thing it measures
("탁구 라켓 무게는 몇 g" measures 라켓) and the kind of place or body it asks for ("어느
박물관"). A quoted sentence that never names it answers another question (the ball's weight,
the city a museum is in): the extractive answerer declines."""

from __future__ import annotations

import re

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
