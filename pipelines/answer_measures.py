"""English measures a question asks for — how hot, how far, how heavy, how often, how fast,
what frequency — and the number in a unit of that measure an answer holds (for
``rag.pipelines.answer_types``)."""

from __future__ import annotations

import re

from rag.pipelines.answer_amounts import NUMBER_WORDS

COUNT = (
    rf"(?:\d[\d,.]*|{NUMBER_WORDS}|a hundred|hundreds|a thousand|thousands|several|a few)"
    r"\s*(?:-\s*)?"
)
"""A count before its unit: digits, a number word, "a hundred", "several", "a few"."""
LENGTH_UNITS = (
    r"km|kilomet(?:re|er)s?|m|met(?:re|er)s?|cm|centimet(?:re|er)s?|mm|millimet(?:re|er)s?|"
    r"miles?|feet|foot|ft|inch(?:es)?|yards?|nm|nanomet(?:re|er)s?|µm|microns?|"
    r"micromet(?:re|er)s?"
)
"""Units of length, as "how far" and "how long" answers write them."""
_WHAT = (
    r"\bwhat(?:'s|\s+is|\s+was|\s+are|\s+were)?\s+(?:the\s+|its\s+)?"
    r"(?:top\s+|average\s+|maximum\s+|greatest\s+)?"
)
"""What, what is, what's the or what was its ... before a measure ("What depth", "What is the
weight of ...", "What was the top speed ...")."""
MEASURES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(asked, re.I), re.compile(said, re.I))
    for asked, said in (
        (
            r"\bhow\s+(?:hot|cold|warm)\b|" + _WHAT + "temperature\\b",
            COUNT + r"(?:[\w-]+\s+)?(?:degrees?|°|℃|℉)",
        ),
        (
            r"\bhow\s+(?:far|high|tall|deep|wide)\b|"
            + _WHAT
            + r"(?:height|depth|length|width|distance)\b",
            COUNT + rf"(?:{LENGTH_UNITS})\b",
        ),
        (
            r"\bhow\s+heavy\b|\bweigh(?:s|ed)?\b|" + _WHAT + r"weight\b",
            COUNT + r"(?:kg|kilograms?|grams?|g|tonnes?|tons?|pounds?|lbs?|ounces?|oz)\b",
        ),
        (
            r"\bhow\s+often\b",
            r"\b(?:every|each|per|daily|hourly|nightly|weekly|monthly|yearly|annually|once|"
            r"twice)\b|\b"
            + COUNT
            + r"(?:times?\b|(?:s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|d|days?|weeks?|"
            r"months?|years?)(?!\w))",
        ),
        (
            _WHAT + r"frequency\b",
            COUNT
            + r"(?:k|m|g|kilo|mega|giga)?(?:hz|hertz)\b|"
            + COUNT
            + r"(?:[\w-]+\s+)?(?:times|cycles|vibrations|oscillations|beats|turns|revolutions)"
            r"\s+(?:a|per|each|every)\s+second\b",
        ),
        (
            r"\bhow\s+fast\b|" + _WHAT + r"speed\b",
            COUNT + r"(?:[\w-]+\s+){0,2}(?:per|an|a|every|each)\s+(?:hour|second|minute|day|"
            r"week|year)\b|" + COUNT + r"(?:km/h|mph|m/s|knots?)\b|"
            # how fast something is noticed: "within about 10 seconds"
            r"\b(?:within|in|under)\s+(?:about\s+|roughly\s+)?" + COUNT + r"(?:s|secs?|seconds?|"
            r"ms|milliseconds?|mins?|minutes?)\b",
        ),
    )
)
"""English questions asking for a measure (how hot, how far, how often, what frequency, how
fast, how heavy) and the number in a unit of that measure an answer holds: a sentence saying
"65 degrees" is preferred to one saying "two months", "every 60s" to "exits 4" for how often,
and "32,768 times a second" to "near 25 °C" for what frequency. The abstention check asks for
the unit too, but not for how far or how often (``answer_types._HOW_FAR_OR_OFTEN``)."""


def measure_said(question: str) -> re.Pattern[str] | None:
    """How an answer writes the measure ``question`` asks for (``MEASURES``), None when it asks
    for none."""
    return next((said for asked, said in MEASURES if asked.search(question)), None)
