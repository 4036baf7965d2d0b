"""What a question asks for — a quantity (in a unit), a date, a name written as code — and
whether a sentence holds it: the answer-type signals of ``rag.pipelines.extractive``."""

from __future__ import annotations

import re

from rag.keywords import has_hangul
from rag.pipelines.answer_amounts import MONEY, NUMBER, NUMBER_WORDS, asks_sum
from rag.pipelines.answer_dates import (
    EN_DATE,
    EN_TIME,
    MONTHS_BUT_MAY,
    TIME,
    WANTS_TIME,
    WHEN,
    YEAR,
    asks_when_en,
)
from rag.pipelines.answer_events import AGE, WON, asks_age, asks_which_wins
from rag.pipelines.answer_measures import COUNT, LENGTH_UNITS, measure_said
from rag.pipelines.answer_specs import (
    CODE_ASKED,
    DATA_SIZE_ASKED,
    SIZE,
    VERSION_ASKED,
    VERSION_NUMBER,
    code_said,
    version_of,
)
from rag.pipelines.answer_units_ko import (
    KO_DURATION,
    KO_LENGTH,
    KO_MEASURE_ASKED,
    asked_unit,
)

WANTS_NUMBER = re.compile(
    r"\bhow\s+(?:many|much|long|far|hot|cold|warm|big|large|small|old|tall|high|deep|wide|"
    r"fast|often|heavy)\b|\b(?:what|which)\s+(?:year|percentage|percent|size|temperature|number|"
    r"(?:status|exit)\s+code|http\s+(?:status|code)|port|(?:[\w.-]+\s+)?version|angle|ratio|"
    r"frequency)\b|"
    r"\bwhat(?:'s|\s+is|\s+was|\s+are|\s+were)?\s+(?:the\s+|its\s+)?(?:top\s+|average\s+|"
    r"maximum\s+|greatest\s+)?(?:height|depth|length|width|"
    rf"distance|weight|speed|temperature|frequency)\b|{WHEN}|\bin\s+which\s+year\b|"
    r"\b(?:minimum|required|supported|oldest|earliest|latest|newest|lowest)\s+(?:[\w.-]+\s+)?"
    r"version\b|\b(?:the|which|what)\s+version\s+of\b|"
    r"\b(?:max(?:imum)?|min(?:imum)?)\s+(?:number|size|length|count|amount|duration)\b|"
    r"\bwhat(?:'s|\s+is|\s+are)\s+the\s+(?:most|maximum|max|minimum|min|largest|smallest|"
    r"fewest|highest|lowest)\b|몇|얼마|언제|며칠",
    re.IGNORECASE,
)
"""A question whose answer is a quantity or a date (which Python version, the minimum SQLite
version: a version number; what's the most reminders: a count)."""
ASKS_DEFAULT = re.compile(
    r"\bdefaults?\b|\bif\s+I\s+(?:don't|do\s+not|haven't|skip|leave)\b|"
    r"\b(?:isn't|is\s+not|aren't|are\s+not)\s+(?:set|given|specified)\b|"
    r"\b(?:is|are)\s+(?:left\s+out|omitted|missing|unset)\b|"
    r"\bwithout\s+(?:setting|giving|passing|specifying)\b",
    re.IGNORECASE,
)
"""An English question asking what happens when nothing is set: a default, "if I don't set
it", "if due_days isn't set", "if max_parallel is left out"."""
LEANS_DEFAULT = re.compile(r"\bout\s+of\s+the\s+box\b", re.I)
"""A question that may ask for a default ("what user agent does it send out of the box?") or
not ("What port does the web interface use out of the box?", answered by "The web UI listens
on port 6120"): a sentence giving one is preferred, none is required."""
SAYS_DEFAULT = re.compile(
    r"(?<!back to the )(?<!back to its )(?<!back to their )\bdefault(?:s|ed)?\b|\bunless\b|"
    r"\bdefault_\w|\w_default\b|\bset\s+no\b|"
    r"\botherwise\b|\bif\s+(?:you\s+)?(?:do\s+not|don't|omit|leave|skip)\b|"
    r"\b(?:left|leave|leaving)\s+(?:(?:it|them|`[^`]+`)\s+)?out\b|\bomitted\b|"
    r"\bnot\s+set\b|"
    r"\bwithout\b|\b(?:when|if)\s+no\b|\bunset\b|"
    r"기본(?:값|으로|적으로)|(?:지정|설정|입력|전달|정)하지\s*않으면|생략하면|비워\s*두면",
    re.IGNORECASE,
)
"""A sentence saying what holds when nothing is set: "Default: 50.", "by default", "unless you
set", "without a timeout line", "if it is unset, the client reads ...", a key named for it:
``default_interval = "60s"  # for checks that set no interval`` (not "falls back to the
default", which does not say what it is); on a Korean page (an English question over it)
기본값, 지정하지 않으면, 생략하면. An example value in a config file (``base_url = "/docs/"``)
says what one user set, not what holds when nobody does."""


def says_default(text: str, names: set[str], near: int = 100) -> bool:
    """``text`` gives a default (``SAYS_DEFAULT``); when it writes one of the ``names`` the
    question asks about (``code_names``), near one of them: in "hybrid by default: ...
    (`fusion_alpha` the dense share)" the default is hybrid's, not ``fusion_alpha``'s."""
    found = [m.start() for m in SAYS_DEFAULT.finditer(text)]
    if not found:
        return False
    spots = [m.start() for name in names for m in re.finditer(re.escape(name), text)]
    return not spots or any(abs(a - b) <= near for a in found for b in spots)


WANTS_CODE = re.compile(
    r"\b(?:which|what)\s+(?:\w+\s+)?(?:flag|option|command|variable|setting|header|file|"
    r"extra|key|method|function|package|tool|library|module|prefix|suffix)s?\b|"
    r"명령|옵션|변수|함수|헤더|메서드",
    re.IGNORECASE,
)
"""A question whose answer is a name written as code: a flag, command, variable, header..."""
FILE_EXTENSIONS = r"toml|json|ya?ml|txt|md|py|cfg|ini|gguf|db|sqlite|log|conf|sh|csv|lock|env"
"""The extensions that make a word a file name (``rag.toml``, ``entries.db``)."""
PATH = re.compile(
    rf"(?<![\w/])(?:~|\.{{1,2}})?/[\w.-]+(?:/[\w.-]*)*|\b\w+\.(?:{FILE_EXTENSIONS})\b"
)
"""A file or directory in a sentence: a path (``/var/log/x/``, ``~/.local/bin``) or a file name
with a common extension (``entries.db``)."""
CODE_TOKEN = re.compile(
    r"`[^`]+`|(?<!\w)--?[a-z][\w-]*|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\b[A-Z][a-z]+-[A-Z][a-z]+\b|"
    r"\b[A-Z]{3,}\b|" + PATH.pattern
)
"""A name written as code: in backticks, a flag, an UPPER_SNAKE variable, a Header-Name, an
acronym, a path or file name."""
_NAMED_IN_CODE = re.compile(
    r"`[^`]+`|(?<![\w-])--?[a-z][\w-]*|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\b[a-z]+_[a-z_]+\b|"
    r"(?<![\w/])(?:~|\.{1,2}|\$\w+)?/[\w.-]+(?:/[\w.-]*)*|\b[\w-]+\.(?:" + FILE_EXTENSIONS + r")\b"
)


def code_names(question: str) -> set[str]:
    """The names a question writes as code — a flag, a variable, a snake_case key, a path or a
    file name (``--store``, ``RAG_STORE``, ``chroma_url``, ``rag.toml``), backticks
    dropped: a sentence holding one letter for letter is about that very thing."""
    return {m.group(0).strip("`") for m in _NAMED_IN_CODE.finditer(question)}


PLACE = re.compile(PATH.pattern + r"|\w\**\s*(?:→|›|»|->)\s*\**\w")
"""Where a documented thing is: a path or file, or a place in an app's menus ("under
**Settings → Apps**")."""
WANTS_PATH = re.compile(r"^\W*where\b|\bwhere\s+(?:does|do|is|are|can|should|will|did)\b", re.I)
"""An English "where" question: in documentation its answer is usually a path, so a sentence
holding one is preferred (a place in prose holds none, and nothing changes there). Not
Korean 어디, which asks for places in prose as often."""


_ASKS_WAY = re.compile(r"\s*how\s+(?:do|can|could|should|would)\s+(?:i|we|you)\b", re.I)
"""A question asking for a way ("How do I check which version I installed?"): its answer is
a command or a step, not the number the rest of it names."""


_WHY = re.compile(r"\W*why\b", re.I)


def wants_quantity(question: str) -> bool:
    """True when ``question`` asks for a quantity or a date (how many, when, 몇, 얼마, ...), not
    for a way to find one out (``_ASKS_WAY``) nor why ("Why ... rather than how hot it burns?")."""
    if _ASKS_WAY.match(question) is not None or _WHY.match(question) is not None:
        return False
    return WANTS_NUMBER.search(question) is not None or asks_sum(question)


_BOUND_ASKED = re.compile(
    r"\b(?:max(?:imum)?|highest|largest|biggest|upper\s+limit|at\s+most)\b|"
    r"\bthe\s+most\b(?!\s+of\b)",
    re.I,
)
BOUND = re.compile(
    r"\b(?:at\s+most|up\s+to|max(?:imum|imal)?|limit(?:ed|s)?|(?:no|not)\s+more\s+than|caps?|"
    r"capped|ceiling|or\s+(?:fewer|less|smaller)|highest|largest|(?:larger|more|bigger|longer|"
    r"greater|higher|less|fewer|smaller|lower|older|younger)\s+than|exceed(?:s|ing)?|over|"
    r"above|beyond|under|below|within|refuses?|rejects?|allows?|"
    r"accepts?|between|range)\b|최대|최고|까지|이하|이내|넘(?:으면|지|는|을)|한도|상한|제한",
    re.I,
)
"""A bound in a sentence: "at most 200 steps", "up to 16 profiles", "the maximum is 10",
"refuses anything larger than 4 MiB"; a Korean page's 최대, 이하, 넘으면."""


def asks_bound(question: str) -> bool:
    """An English question asking for an upper bound ("What's the maximum number of workers?",
    "the highest value max_parallel accepts"): an example value (``--workers 4``) is not one."""
    return (
        not has_hangul(question)
        and wants_quantity(question)
        and _BOUND_ASKED.search(question) is not None
    )


def answer_type(question: str) -> re.Pattern[str] | None:
    """What the answer's sentence must hold for ``question``: a number (how many, when, 몇,
    얼마, ...; for how hot / far / fast / heavy or what frequency, in a unit of that measure;
    for how much memory, in bytes; for a named version, after the name; for a status or exit
    code, one of one to three digits; for in what year, a year; ``korean_type``), a dotted
    release number (which version first had a feature), a name written as code (which flag,
    command, header, file, ...), a path (where ...), what a thing is called (what is the name
    for ...), or None."""
    korean = korean_type(question)
    if korean is not None:
        return korean
    if _RELEASE_ASKED.search(question) and (_CAME_IN.search(question) or _FIRST.search(question)):
        return _DOTTED  # "In which version did layout save appear?": "1.3", not "16 panes"
    if wants_quantity(question):
        if asks_age(question):
            return AGE  # "how old was he when ...": "aged 45", not the year he died
        if DATA_SIZE_ASKED.search(question):
            return SIZE
        if CODE_ASKED.search(question):
            return code_said(question)
        if _HOW_LONG_LASTS.search(question):
            return DURATION
        if _HOW_LONG.search(question):
            return LASTING  # as the gate asks: "for 132 years", not "in 1857"
        if _YEAR_ASKED.search(question):
            return YEAR  # "In what year was 1.0 released?": 2019, not "2.4.1"
        if asks_when_en(question):
            if _WHEN_NOW.search(question):
                return EN_TIME  # "when does a playlist get updated?": "after every scan"
            return EN_DATE  # "When was it opened?": 4 March 1890, not 54,000 tonnes
        if _HOW_FAR_BACK.search(question):
            return EN_TIME  # how far back in time: "50,000 years", "to 1850", not metres
        return measure_said(question) or version_of(question) or NUMBER
    if asks_which_wins(question):
        return WON  # "Uruguay won the deciding match", "an environment variable beats the file"
    if _ENV_ASKED.search(question):
        return ENV_NAME  # "set the scan interval with an env var": YARROWSHELF_SCAN_INTERVAL
    if WANTS_CODE.search(question):
        return CODE_TOKEN
    if WANTS_PATH.search(question):
        return PLACE
    if _NAME_ASKED.search(question):
        return NAMING  # "what is the name for salt lowering ...": "This is called ..."
    return None


_YEAR_ASKED = re.compile(r"\b(?:what|which)\s+year\b", re.I)
_RELEASE_ASKED = re.compile(r"\b(?:which|what)\s+(?:\w+\s+)?(?:version|release)\b", re.I)
_FIRST = re.compile(r"\bfirst\b", re.I)
_DOTTED = re.compile(r"(?<![\d.])\d+\.\d+(?:\.\d+)*(?![\d%])|\bv\d+\b")
"""A release as docs number one: "1.3", "2.4.1", "v2"."""
_NAME_ASKED = re.compile(
    r"\bwhat(?:'s|\s+is|\s+are|\s+was)\s+the\s+(?:name|term|word)\s+(?:for|given\s+to)\b", re.I
)
"""A question asking what a thing or process is called ("What is the name for salt lowering
the temperature at which water freezes?"; not "another name for", often given as "X, or Y",
nor "what are they called?", often answered by naming them: "the Caryatids")."""
NAMING = re.compile(r"\b(?:called|named|known\s+as|termed)\b", re.I)
"""A sentence giving a name: "This is called freezing-point depression"."""


_ENV_ASKED = re.compile(r"\benv(?:ironment)?[\s_-]*var(?:iable)?s?\b", re.I)
ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*\b")
"""An environment variable as docs write one (``YARROWSHELF_SCAN_INTERVAL``, the
``YARROWSHELF_`` prefix), to a question asking for one ("with an env var")."""
_HOW_MANY = re.compile(r"\bhow\s+many\s+([a-z][a-z-]*)", re.I)
_MEASURED = (
    r"(?:seconds?|secs?|minutes?|mins?|hours?|days?|weeks?|months?|years?|ms|s|m|km|cm|mm|kg|g|"
    r"[kmgt]i?b|bytes?|degrees?|percent|%|°|(?:centi|milli|kilo)?met(?:re|er)s?|miles?|feet|"
    r"inch(?:es)?|tonnes?|tons?|pounds?|lbs?|(?:kilo)?grams?|kilos?|(?:milli)?lit(?:re|er)s?|"
    r"bc|bce|ce|ad)"
)
_MONTH = f"{MONTHS_BUT_MAY}|(?-i:May)"
_NOT_A_COUNT = re.compile(
    r"\b(?:python|version|release|v)\s*\d[\d.]*|\d+\.\d+\.\d+|\b\d{4}-\d\d-\d\d\b|"
    r"\b(?:in|since|from|until|by|around|circa|before|after)\s+(?:1\d|20)\d\d\b|"
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH})\b|\b(?:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?\b",
    re.I,
)
"""Numbers that count nothing: a version ("Python 3.9", "3.0.0"), a date ("2021-06-07", "2
August", "May 20th") or a year ("in 1840"), blanked before a "how many" answer is looked
for."""
_COUNTED = rf"(?:\d[\d,.]*|\b(?:{NUMBER_WORDS}|hundred|thousand|million)\b)"


_TIME_UNITS = (
    r"s|secs?|seconds?|ms|millis|milliseconds?|µs|microseconds?|ns|nanoseconds?|mins?|minutes?|"
    r"h|hrs?|hours?|days?|weeks?|months?|years?|yrs?"
)
_YEAR_SPAN = r"\b(?:1\d|20)\d\d\s*(?:-|–|to|until|and)\s*(?:1\d|20)\d\d\b"
"""A span of years ("from 1922 to 1990", "between 1260 and 1390"): how many years it lasted."""
_UNIT_NOUNS = {
    "second": r"s|secs?|seconds?",
    "millisecond": r"ms|millis|milliseconds?",
    "minute": r"mins?|minutes?",
    "hour": r"h|hrs?|hours?",
    "day": r"days?",
    "week": r"weeks?",
    "month": r"months?",
    "year": r"years?|yrs?",
    "byte": r"bytes?|[kmgt]i?b",
    "kilobyte": r"kb|kib|kilobytes?",
    "megabyte": r"mb|mib|megabytes?",
    "gigabyte": r"gb|gib|gigabytes?",
    "kilometre": r"km|kilomet(?:re|er)s?",
    "kilometer": r"km|kilomet(?:re|er)s?",
    "metre": r"m|met(?:re|er)s?",
    "meter": r"m|met(?:re|er)s?",
    "mile": r"miles?",
    "degree": r"degrees?|°",
}
"""Units an English "how many <unit>" asks for, and how an answer may write them."""
_HOW_LONG = re.compile(r"\bhow\s+long\b", re.I)
_HOW_FAR_BACK = re.compile(r"\bhow\s+far\s+back\b", re.I)
_TEXT_UNITS = r"characters?|chars?|digits?|letters?"
"""Units of a text's length: how long is an id, a key, a name ("an eight-character id")."""
LASTING = re.compile(
    rf"{COUNT}(?:{_TIME_UNITS}|{LENGTH_UNITS}|{_TEXT_UNITS})(?!\w)|\b(?:an?|half\s+an?)\s+"
    rf"(?:second|minute|hour|day|week|month|year|fortnight)\b",
    re.I,
)
"""What answers "how long": a number in a unit of time, length or text ("90 seconds", "a week",
"1,280 metres", "eight-character"); a year alone ("in 1810") or a bare number does not."""
_HOW_LONG_LASTS = re.compile(
    r"\bhow\s+long\b(?=[^?]*\b(?:live[sd]?|lasts?|lasted|takes?|taken|took|stays?|stayed|"
    r"survive[sd]?|remains?|remained|waits?|valid|keeps?|kept|holds?|held|sleeps?|spends?|"
    r"hibernates?)\b)",
    re.I,
)
"""A "how long" that asks for a time, not a length: how long do monarchs live, does it take,
is a token valid."""
DURATION = re.compile(
    rf"{COUNT}(?:{_TIME_UNITS})(?!\w)|\b(?:an?|half\s+an?)\s+"
    rf"(?:second|minute|hour|day|week|month|year|fortnight)\b",
    re.I,
)
"""What answers a "how long" that asks for a time: a number in a unit of time."""


class Counted:
    """For "how many <noun>": a count — a number that is not a measure in another unit ("30
    seconds" does not say how many retries, "112 centimetres" how many lines; "1980s" is a
    decade), a version ("Python 3.9") or a year ("in 1840", "196 BC") — or any number of
    ``noun`` itself ("6 hours" for how many hours). Searches like a compiled pattern."""

    def __init__(self, noun: str) -> None:
        self.pattern = re.compile(
            rf"{_COUNTED}(?![\d,.])(?!\s*-?\s*{_MEASURED}(?!\w))|\b(?:once|twice|half)\b|"
            rf"\bevery\s+(?:other\b|\d|(?:{_TIME_UNITS})\b)|"
            rf"{_COUNTED}\s*-?\s*{re.escape(noun)}",
            re.I,
        )

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(_NOT_A_COUNT.sub(" ", text))


def korean_type(question: str) -> re.Pattern[str] | None:
    """What a Korean quantity question's answer holds, when more is known than "a number":
    the unit after 몇 (몇 km), "X까지" for 언제까지 and "X부터" for 언제부터, a duration for
    얼마나 걸려 / 얼마 동안 / 기간, a length for 길이 / 거리 / 높이 / 둘레 ... None otherwise.
    A ranking signal: the abstention check keeps ``said_pattern``."""
    if not (wants_quantity(question) or KO_MEASURE_ASKED.search(question)):
        return None
    unit = asked_unit(question)
    if unit is not None:
        return unit
    if re.search(r"언제\s*까지", question):
        return re.compile(r"\S까지")
    if re.search(r"언제\s*부터", question):
        return re.compile(r"\S부터")
    if re.search(r"얼마나\s*(?:걸|오래)|얼마\s*동안|기간", question):
        return KO_DURATION
    if re.search(r"길이|거리|높이|깊이|둘레|너비", question):
        return KO_LENGTH
    return None


_HOW_FAR_OR_OFTEN = re.compile(r"\bhow\s+(?:far|often)\b", re.I)
"""Measures answered in too many ways for the abstention check to ask for a unit: how far
(degrees, years back, miles), how often (every, twice, hourly)."""


def said_pattern(question: str) -> re.Pattern[str] | Counted:
    """What an answer to a quantity or date question must hold, or the sources do not say it:
    a number in the unit asked (몇 km, how many seconds), a sum of money for a price or fee
    (수수료가 얼마), a count for "how many" (not a measure in another unit), a duration or
    length for "how long", a one-to-three-digit number for an exit or status code, digits for
    a version, a size in bytes for how much memory, bandwidth or the largest file, a year for
    "in what year", a date or relative time for "when" (언제, when ...), else any number."""
    unit = asked_unit(question)
    if unit is not None:
        return unit
    if asks_age(question):
        return AGE
    if asks_sum(question):
        return MONEY  # "과태료 얼마", "how much is the fee": a sum, not any number
    many = _HOW_MANY.search(question)
    if many is not None:
        noun = many.group(1).lower().removesuffix("s")
        written = _UNIT_NOUNS.get(noun)
        if written is not None:  # how many seconds, days, MB: a number in that unit, or
            # after a key named for it ("`audit.retention_days`, 90 by default"); how many
            # years, a span of them too
            said = [
                rf"{_COUNTED}\s*-?\s*(?:{written})(?!\w)",
                rf"_(?:{written})\b[^.;\d]{{0,24}}\d",
            ]
            return re.compile("|".join([*said, _YEAR_SPAN] if noun == "year" else said), re.I)
        return Counted(many.group(1))
    if _HOW_LONG_LASTS.search(question):
        return DURATION
    if CODE_ASKED.search(question):
        return code_said(question)
    if DATA_SIZE_ASKED.search(question):
        return SIZE  # how much RAM, the largest upload: a size in bytes, not "one folder"
    if _HOW_LONG.search(question):
        return LASTING
    if _YEAR_ASKED.search(question):
        return YEAR
    if WANTS_TIME.search(question) and not re.search(r"몇|얼마|\bhow\b", question, re.I):
        if not asks_when_en(question):
            return TIME
        # software docs date a feature by the release it came in ("FB2 ... 1.5")
        return EN_RELEASE if _CAME_IN.search(question) else EN_TIME
    if VERSION_ASKED.search(question):
        return VERSION_NUMBER  # "every snapshot" or a window "for 2h" gives no version
    if _HOW_FAR_OR_OFTEN.search(question):
        return NUMBER  # "42 degrees from the point", "back 50,000 years", "twice a day"
    # asked how heavy, hot, deep or fast: a number in a unit of that measure ("20 horsepower"
    # is no speed, "31,700 km²" no depth)
    measure = measure_said(question)
    if measure is not None and _RELATIVE.search(question):  # or as a ratio to the other
        return re.compile(rf"{measure.pattern}|{_RATIO}", re.I)
    if measure is not None:
        return measure
    return AMOUNT if _HOW_MUCH.search(question) else NUMBER


_RELATIVE = re.compile(r"\b(?:relative\s+to|compared\s+(?:with|to)|in\s+relation\s+to)\b", re.I)
"""A measure asked against another thing ("how fast does the camshaft spin relative to the
crank?"): "at half the crankshaft's speed" answers it."""
_RATIO = (
    r"\b(?:half|twice|double|triple|a\s+(?:third|quarter)|\d+(?:\.\d+)?\s*(?:times\b|x\b)|"
    r"(?:two|three|four|five|six|seven|eight|nine|ten)\s+times\b)"
)
"""A ratio in words or digits: half, twice, a third, 3 times, 2.5x."""
_CAME_IN = re.compile(
    r"\b(?:added|introduced|show(?:ed|n)?\s+up|appear(?:ed|s)?|arrive[ds]?|land(?:ed|s)?|"
    r"became\s+available|come\s+in|came\s+in|supported|support)\b",
    re.I,
)
"""A when-question about a feature's arrival ("When did FB2 support show up?")."""
_WHEN_NOW = re.compile(r"\bwhen\s+(?:does|do|is|are|will|should|can)\b", re.I)
"""A when-question in the present ("when does it refresh?"): asked what happens, not a date."""
EN_RELEASE = re.compile(rf"{EN_TIME.pattern}|\d+\.\d+", re.I)
"""When a feature came: a date, or the release that brought it ("1.5")."""
_HOW_MUCH = re.compile(r"\bhow\s+much\b", re.I)
_NUMBER_WORDS_ETC = NUMBER.pattern.removeprefix(r"\d|")  # NUMBER without its bare digit
AMOUNT = re.compile(rf"(?<![\d.,])(?!(?:1\d{{3}}|20\d\d)(?!\d|[.,]\d))\d|{_NUMBER_WORDS_ETC}", re.I)
"""An amount ("how much vitamin C is in one kiwifruit?"): a number, but not a year alone ("In
1904 Isabel Fraser brought seeds home" says no amount)."""
