"""Dates and times in questions and sentences: whether an English or Korean question asks
when, and the patterns of a date, a duration or a relative time its answer holds (used by
``answer_types`` and ``subjects``)."""

from __future__ import annotations

import re

WHEN = (
    r"^\W*when\b(?![^?]*,\s*(?:\w+\s+){0,2}(?:which|what|who|whom|where|how|why)\b)"
    r"(?!\s+(?:i|you|we|they|he|she|it|my|your|our|their|his|her|its|a|an|the|this|that|"
    r"these|those|someone|somebody|people|users?)\b)"
)
"""A question opening with "when" that asks when ("When did they find where monarchs spend
the winter?"), not one opening with a "when" clause and asking something else after its
comma ("When a job runs past its limit, what signal does it get?", "When revalidating, in
which header ...?") or after its subject and verb ("when I migrate to postgres do my photos
get copied?": a question asking when puts its verb, not its subject, after "when")."""
WANTS_TIME = re.compile(rf"언제|{WHEN}", re.IGNORECASE)
"""A question asking when: its answer may be a date or a relative time (마지막에, after ...)."""
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""English month and day names (lower case): dates in ``TIME`` and ``EN_DATE``, and words that
name no one (``subjects.names_no_one``)."""
MONTHS_BUT_MAY = "|".join(m for m in MONTHS if m != "may")
"""The months matched in any case; "May" only capitalized (``(?-i:May)``), not the verb."""
_TIME_WORDS = (
    r"때|전에|후에|뒤에|다음|마지막|먼저|처음|나중|직후|직전|무렵|동안|이후|이전|부터|까지|"
    r"새벽|아침|저녁|밤|봄|여름|가을|겨울|중순|하순|상순|시대|시절|세기|요일|주말|평일|매일|매주|"
    r"매년|해마다|날마다|\b(?:before|after|until|during|while|once|first|last|then|morning|"
    r"evening|night|spring|summer|autumn|winter|century|era|daily|weekly|monthly|yearly|every|"
    rf"today|tomorrow|{MONTHS_BUT_MAY}|{'|'.join(WEEKDAYS)}|weekends?)\b|"
    r"\b(?-i:May)\b"
)
"""A relative time or a named month or day, in Korean or English (마지막, 전에, before, after,
every, March, Monday)."""
TIME = re.compile(r"\d|" + _TIME_WORDS, re.IGNORECASE)
"""A date or a relative time in a sentence (digits, months, days, 때, 마지막, 전에, before,
after, ...)."""
_YEAR = r"(?<![\d,.])(?:1\d{3}|20\d{2})(?![\d,.]\d)"
_ERA = r"\b\d+\s*(?:BC|BCE|AD|CE)\b|\bAD\s*\d+"
_DECADE = r"\b(?:1\d|20)\d0s\b"
YEAR = re.compile(f"{_YEAR}|{_ERA}|{_DECADE}", re.IGNORECASE)
"""A year ("2019", "196 BC", the 1950s), to a question asking in what year: a release
number or a count of things is none."""
EN_DATE = re.compile(
    rf"{_YEAR}|\b\d{{4}}-\d\d-\d\d\b|{_ERA}|\b\d{{1,2}}:\d{{2}}\b|\b\d+(?:st|nd|rd|th)\b|{_DECADE}|"
    r"(?:\bthe\s+|['’])\d0s\b|"
    rf"\b(?:{MONTHS_BUT_MAY}|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b|\b(?-i:May)\b",
    re.IGNORECASE,
)
"""A date in an English sentence: a year (1000-2099, not "54,000" or "6.5"), an era ("196 BC"),
a clock time, an ordinal ("the 3rd"), a decade ("the 1920s"), a month: what "When was the
bridge opened?" wants ("4 March 1890"), where "54,000 tonnes" is no time."""
EN_TIME = re.compile(
    EN_DATE.pattern + r"|\b\d+\s*(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|"
    r"months?|years?|decades?|centuries|ms|s|h|d)\b|" + _TIME_WORDS,
    re.IGNORECASE,
)
"""``TIME`` for an English sentence: a date, a duration, or a relative time (after, every,
monthly, ...), not any digit."""
_EN_WHEN = re.compile(WHEN, re.IGNORECASE | re.DOTALL)


def asks_when_en(question: str) -> bool:
    """An English question asking when ("When was the bridge opened?"), not one opening with a
    "when" clause and asking something else ("When revalidating, in which header ...?")."""
    return _EN_WHEN.search(question) is not None
