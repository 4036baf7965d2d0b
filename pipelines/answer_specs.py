"""The values a question about software asks for — a named version, a size in bytes, an exit
or HTTP status code — and which dimension a "how wide" question measures, and how sources
write them (``rag.pipelines.answer_types`` asks which one a question wants)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NAMED_VERSION = re.compile(
    r"\b([A-Za-z][\w.+-]*)\s+(?=version\b)|\bversion\s+of\s+([A-Za-z][\w.+-]*)", re.I
)
_NOT_NAMES = frozenset(
    [
        "which",
        "what",
        "minimum",
        "required",
        "supported",
        "oldest",
        "earliest",
        "latest",
        "newest",
        "lowest",
        "the",
        "a",
        "an",
        "this",
        "that",
        "its",
        "major",
        "minor",
        "same",
        "new",
        "old",
    ]
)


def version_of(question: str) -> re.Pattern[str] | None:
    """For "which Python version", "the minimum postgres version", "version of SQLite": the
    named thing followed by a number ("Python 3.10", "PostgreSQL 13", "`ffmpeg` 5.0"; the name's last two
    letters may differ; or in the next cell of a table row, "MariaDB,10.6"), so that
    "macOS 12" beside it does not answer. None when no name."""
    for m in _NAMED_VERSION.finditer(question):
        name = m.group(1) or m.group(2)
        if name.lower() not in _NOT_NAMES:
            stem = re.escape(name[: max(4, len(name) - 2)])
            return re.compile(rf"\b{stem}[\w.+-]*[`'\"]?(?:\s+|\s*[,|;:]\s*)v?\d", re.I)
    return None


DATA_SIZE_ASKED = re.compile(
    r"\bhow\s+much\s+(?:ram|memory|disk|disk\s+space|space|storage|bandwidth|data|traffic)\b|"
    r"\b(?:max(?:imum)?|min(?:imum)?|largest|biggest)\s+(?:file\s+|upload\s+|log\s+)?size\s+"
    r"(?:of|for)\s+(?:an?\s+|the\s+|one\s+|each\s+)?(?:[\w.-]+\s+){0,2}"
    r"(?:files?|uploads?|logs?|attachments?|caches?|bodies|body|payloads?|requests?|disks?)\b|"
    r"\bhow\s+(?:big|large)\s+(?:(?:can|could|does|do|is|are|will|may)\s+)?(?:the\s+|an?\s+|"
    r"my\s+|its\s+|each\s+|one\s+|a\s+single\s+)?(?:[\w.'-]+\s+){0,2}(?:files?|uploads?|logs?|"
    r"attachments?|caches?|databases?|disks?|backups?|payloads?|bodies|body|requests?|"
    r"tarballs?|archives?|downloads?|binar(?:y|ies)|installers?|xml|json|images?)\b",
    re.I,
)
"""How much memory or disk, the largest size of a file, upload, log, cache or request body, or
how big a file, cache or database is (or grows): a number in bytes, not "a pool of 10
connections" or "one folder"."""
SIZE = re.compile(
    r"\d[\d,.]*\s*(?:[kmgt]i?b|bytes?|kilobytes?|megabytes?|gigabytes?|terabytes?|[kmg]?bits?|"
    r"[kmg]bps)\b",
    re.I,
)


VERSION_ASKED = re.compile(r"\bversion\b", re.I)
VERSION_NUMBER = re.compile(r"\d+\.\d|\bv\d|\b[A-Za-z][\w+-]*[\s,|:]+\d+(?![\w%])", re.I)
"""A version as sources write one: dotted ("2.4", "3.9+"), "v3", or a number after a word
("Python 3", "macOS 12", "Ruby,3" in a table row) — not a number glued to a unit (a window
"for 2h")."""
CODE_ASKED = re.compile(r"\b(?:status|exit|error|return|response|http)\s+(?:code|status)\b", re.I)
_HTTP_ASKED = re.compile(r"\bhttp\s+(?:status|code|response|error)|\bstatus\s+code\b", re.I)
_HTTP_CODE = re.compile(r"(?<![\w.])[1-5]\d\d(?![\w%]|\.\d)")
"""An HTTP status asked ("what HTTP status comes back?", "which status code"): three digits
from 100 to 599 (``413``), not an exit code's "3" nor "5 MB"."""
_CODE_DIGITS = r"(?<![\w.])\d{1,3}(?![\w%]|\.\d)"
"""A status, exit or error code's number: one to three digits (``202 Accepted``, "exit status
3."), not "5%" nor a version's "3.9"."""


def code_said(question: str) -> re.Pattern[str]:
    """How the code asked for is written: an HTTP status, 100 to 599; an exit status, 0 to 255
    (``_EXIT_STATUS``: a "409" or "returns 201" is an HTTP reply, not how it exits); an error
    or other status code, one to three digits; each after "exits", "status" or "code", in a
    table cell or in code (``_EXIT_CODE``; not "5% of the chunks", not "every")."""
    if _HTTP_ASKED.search(question):
        return _HTTP_CODE
    return _EXIT_STATUS if _EXIT_ASKED.search(question) else _EXIT_CODE


def _code_after(digits: str) -> re.Pattern[str]:
    """A code of ``digits`` where sources write one (see ``_EXIT_CODE``)."""
    return re.compile(
        r"\b(?:exit(?:s|ed)?|status(?:es)?|codes?|return(?:s|ed)?|with)\b[^.;\d]{0,20}?"
        rf"{digits}|(?:^|\||(?<!\d),|(?<=\d),(?=\d\d?(?![\d.]))|`)\s*{digits}",
        re.I | re.M,
    )


_EXIT_CODE = _code_after(_CODE_DIGITS)
"""An exit or error code as sources write one: after "exits", "status", "code" or "returns"
("it exits 0 when ... and 2 when ...", "exit code 3"), at a table cell's or line's start
("| 2 | config invalid |", a CSV row's ``...,0.3,1``: a comma before one or two digits
separates cells, not thousands) or in code ("`3`"); not any small number ("a Raspberry Pi
4")."""
_EXIT_ASKED = re.compile(r"\bexit\s+(?:code|status)\b", re.I)
"""A process's exit status asked ("which exit code", "what exit status")."""
_EXIT_STATUS = re.compile(
    _code_after(r"(?<![\w.])\d\d?(?![\w%]|\.\d)").pattern
    + r"|\bexit(?:s|ed)?(?:\s+(?:code|status))?\s+(?:of\s+|with\s+)?(?:25[0-5]|2[0-4]\d|1\d\d)\b",
    re.I | re.M,
)
"""An exit status as sources write one: one or two digits in ``_EXIT_CODE``'s places, three
(up to 255: "exits 130") only after "exit", where no HTTP reply ("returns 201") is meant."""


_DIMENSIONS = {
    "tall": "height",
    "high": "height",
    "height": "height",
    "wide": "width",
    "broad": "width",
    "width": "width",
    "across": "width",
    "diameter": "width",
    "deep": "depth",
    "depth": "depth",
    "thick": "thickness",
    "thickness": "thickness",
}
_DIMENSION_ASKED = re.compile(r"\bhow\s+(tall|high|wide|broad|deep|thick)\b", re.I)
_DIMENSION_WORD = re.compile(
    rf"\b(?:{'|'.join(_DIMENSIONS)})(?:er|est|r|st)?\b|\b(?:above|elevation|altitude)\b", re.I
)
"""A word of a dimension, compared too ("deepest", "widest", "higher"); height is also
said by "above (sea level)", "elevation" or "altitude"."""
_MEASURED = re.compile(
    r"\d[\d,.]*\s*(?:m|km|cm|mm|metres?|meters?|feet|foot|ft|inch(?:es)?|miles?)\s+"
    r"(?:in\s+)?(tall|high|height|wide|broad|width|across|diameter|deep|depth|thick(?:ness)?|"
    r"long|length)\b",
    re.I,
)


def _dimension_of(word: str) -> str | None:
    """The dimension ``word`` speaks of ("widest" -> width, "above" -> height)."""
    word = word.lower()
    if word in ("above", "elevation", "altitude"):
        return "height"
    for form in (word, word[:-3], word[:-2], word[:-1], word[:-2] + "e"):
        if form in _DIMENSIONS:
            return _DIMENSIONS[form]
    return None


def other_dimension(question: str, said: str) -> tuple[str, str] | None:
    """(the dimension an English "how wide / tall / deep" question asks, the one ``said``
    measures instead) when ``said`` writes a length only in another dimension ("96 m tall" to
    "How wide are the clock faces?") and no word of the one asked; None otherwise."""
    m = _DIMENSION_ASKED.search(question)
    if m is None:
        return None
    asked = _DIMENSIONS[m.group(1).lower()]
    for word in _DIMENSION_WORD.finditer(said):
        if _dimension_of(word.group(0)) == asked:
            return None
    given = [_DIMENSIONS.get(d.lower(), "length") for d in _MEASURED.findall(said)]
    return (asked, given[0]) if given else None


_RATE_ASKED = re.compile(
    r"^\W*(?:what|whats|how\s+(?:much|many|high|fast)|which)\b.*\brate[\s-]?limit", re.I
)
"""A question asking what a rate limit is ("What's the rate limit per API token?"), not whether
one applies ("Do the rate-limit counters survive a restart?")."""
_RATE = re.compile(
    r"\d[\d,.]*\s*(?:[a-z-]+\s+){0,2}(?:per|a|an|each|/)\s*"
    r"(?:seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|months?)\b",
    re.I,
)
"""A rate as sources write one: "120 requests per minute", "10 links an hour", "100/min"."""


def unsaid_rate(question: str, said: str) -> bool:
    """True when ``question`` asks what a rate limit is and ``said`` writes no rate: "a salt
    that changes every 24 hours" limits nothing per address."""
    return _RATE_ASKED.search(question) is not None and _RATE.search(said) is None


_DESIGNATION = re.compile(
    r"(?<![\w-])(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[A-Za-z]\w*(?:-\w+)+|(?<![\w-])[A-Z]+\d+[A-Za-z\d]*\b"
)
"""A model or type designation mixing letters and digits: R-410A, B-52, M1, AVX2."""
_HYPHENS = re.compile(r"[-‐‑–]")


def unwritten_designations(question: str, texts: Sequence[str]) -> list[str]:
    """The designations ``question`` names (``_DESIGNATION``) that none of ``texts`` writes,
    hyphens and case aside ("R-410A" over pages naming only R-32; "sha256" writes SHA-256):
    sources that never write it do not say what it is or does."""
    said = "\n".join(texts).lower()
    missing = []
    for word in _DESIGNATION.findall(question):
        spelled = f"{_HYPHENS.pattern}?".join(map(re.escape, _HYPHENS.sub("", word.lower())))
        if not re.search(rf"(?<![a-z0-9]){spelled}(?![a-z0-9])", said):
            missing.append(word)
    return missing
