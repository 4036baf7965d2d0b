"""Korean units and counters: the unit a "몇 ..." question names and how answers write it,
and the Korean duration and length patterns (used by ``answer_types``)."""

from __future__ import annotations

import re

_KO_UNITS = (
    "제곱킬로미터",
    "제곱미터",
    "킬로미터",
    "센티미터",
    "밀리미터",
    "미터",
    "킬로그램",
    "마이크로그램",
    "밀리그램",
    "그램",
    "리터",
    "퍼센트",
    "시간",
    "볼트",
    "와트",
    "암페어",
    "칼로리",
    "개월",
    "달러",
    "글자",
    "바이트",
)
"""Korean units of more than one syllable (a one-syllable counter is 명, 개, 년, 척 ...)."""
_UNIT_ALIASES = {
    a: "|".join(group)
    for group in (
        ("km", "킬로미터", "킬로"),
        ("cm", "센티미터", "센티"),
        ("mm", "밀리미터", "밀리"),
        ("m", "미터"),
        ("km2", "㎢", "제곱킬로미터"),
        ("m2", "㎡", "제곱미터"),
        ("kg", "킬로그램", "킬로"),
        ("mg", "밀리그램"),
        ("g", "그램"),
        ("%", "퍼센트", "프로"),
        ("달", "개월"),
        ("번", "회"),
        ("살", "세"),
        ("장", "부", "매"),
    )
    for a in group
}
"""Units and counters written more than one way (an answer to 몇 km may say 킬로미터)."""
_KO_COUNTERS = frozenset(
    "명개번회살세년월일시분초도층권장마대척곳가배잔병그켤벌채송자차주달알컵형줄쪽편칸통쌍판평점"
)
"""First syllables of Korean counters (명, 개, 번, 마리, 가지, 그릇, 켤레, 송이, 자루, 차례 ...):
a word after 몇 that starts otherwise names no unit ("몇 필요", "몇이었어")."""
_ASKED_UNIT = re.compile(r"몇\s*([가-힣]+|[A-Za-z%]+)")
KO_NATIVE = "한|두|세|네|다섯|여섯|일곱|여덟|아홉|열|스무|서른|마흔|쉰"
"""Korean native numerals as they stand before a counter (세 걸음, 스무 살)."""
_KO_COUNT = rf"(?:\d[\d,.]*|{KO_NATIVE}|백|천|만)\s*"


def asked_unit(question: str) -> re.Pattern[str] | None:
    """For "몇 km / 몇 명 / 몇 퍼센트 ...": a number followed by that unit or counter."""
    m = _ASKED_UNIT.search(question)
    if m is None:
        return None
    word = m.group(1)
    if word[0].isascii():
        unit = word
    else:
        unit = next((u for u in _KO_UNITS if word.startswith(u)), word[0])
        if len(unit) == 1 and unit not in _KO_COUNTERS:
            return None  # 몇까지, 몇이었어, 몇 필요: no counter named, any number answers
    return re.compile(_KO_COUNT + f"(?:{_UNIT_ALIASES.get(unit.lower(), re.escape(unit))})", re.I)


KO_MEASURE_ASKED = re.compile(
    r"(?:길이|거리|높이|깊이|둘레|너비|무게|넓이|면적|기간)\S*\s*어느\s*정도"
)
"""A Korean question asking a measure without 몇 or 얼마 (둘레가 어느 정도야)."""
KO_DURATION = re.compile(
    r"\d[\d,.~]*\s*(?:년|개월|달|주일?|일|시간|분|초|세기)|하루|이틀|사흘|나흘|닷새|열흘|보름|"
    r"반나절|(?:한|두|세|네|다섯|여섯|일곱|여덟|아홉|열)\s*(?:해|달|시간|주)"
)
"""A Korean duration: 2년 9개월, 사흘, 두 달."""
KO_LENGTH = re.compile(
    r"\d[\d,.~]*\s*(?:km|m|cm|mm|킬로미터|미터|센티미터|밀리미터|킬로|리)(?![a-z])", re.I
)
"""A Korean length: 5.7km, 384미터."""
