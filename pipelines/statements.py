"""A source's statements: what an extractive answer may quote (``rag.pipelines.extractive``).

Prose is split into sentences; each line of a code block is one statement (in backticks);
each row of a table written as text — a Markdown pipe table, CSV or TSV lines — is one,
verbatim, without its header, and so is each ``field: value`` line of a record (a CSV row or
a JSON object as the loaders write them); headings, fences and titles are none. An FAQ's
question lines are statements too, marked by ``asks`` so that the answerer quotes what
follows them. A one-word reply ("No.") opens the sentence after it and a short remark
("Default: 50.") closes the one before it: neither says anything alone
(``rag.pipelines.grounding.claim_parts`` splits answers the same way, so the support check
sees the statements that were quoted)."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence

from rag.keywords import has_hangul
from rag.types import Citation

_DECORATION = re.compile(r"^\s*(?:#{1,6}\s+|[-*+>]\s+|\d+[.)]\s+)")
_FENCE = re.compile(r"^\s*(```|~~~)")
FAQ_MARK = re.compile(r"^[*_]*Q[*_]*\s*:\s*")
"""An FAQ entry's question mark "Q:" at the start of its line (bold or not)."""
_FIELD = re.compile(r"^[^\W\d][\w .\-]{0,40}: \S")
"""A record field as the CSV and JSON loaders write it (``backend: Anthropic``,
``server.port: 8640``, a CSV column ``default port: 4100``)."""
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])([\"'”’)\]]*)\s+")
_CLOSERS = "\"'”’)]"
_ELLIPSIS = re.compile(r"(?:\.\.|…)$")
MARKER_BODY = r"\[(\d+(?:\s*[,;]\s*\d+)*)\]"
"""An answer's citation marker, ``[n]`` or ``[n, m]``; group 1 holds the numbers."""
LEADING_MARKERS = re.compile(r"^(?:\s*" + MARKER_BODY + ")+")
"""The markers a text opens with (``[2] Next ...``: those of the sentence before it)."""
_ABBREVIATION = re.compile(
    r"(?:^|[\s(])(?:Mr|Mrs|Ms|Dr|Sr|Jr|St|Mt|Ft|Co|Inc|Ltd|Corp|Prof|Gen|Col|Rev|No|Nos|Fig|Vol|"
    r"vs|etc|approx|cf|e\.g|i\.e|[A-Z])\.$"
)
"""A word a period follows without ending the sentence (Sr., e.g., vs.) when the next word
starts in lower case."""
_INITIAL = re.compile(r"(?:^|\s)(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Mt|Ft|Prof|Capt|Lt|Sgt)\.$")
"""An initial ("J. R. R. Tolkien", "John F. Kennedy") or a title or place word a name follows
("St. Louis", "Mt. Hood", "Dr. Watson"): the name goes on."""


def sentence_ends(before: str, after: str) -> bool:
    """False where a full stop ends no sentence: after an abbreviation (Sr., e.g., vs.) or a
    quoted question or exclamation (``"Why?" is asked``) when ``after`` starts in lower case,
    after an initial when it starts with a capital, after an ellipsis unless it does
    (``rag ask "..." --show-prompt``: a placeholder). Closing quotes and brackets after the
    stop are looked through. Shared by the statements, the prompt's sentences and the
    answer's claims, so all three agree."""
    stripped = before.rstrip()
    tail = stripped.rstrip(_CLOSERS)[-16:]
    first = LEADING_MARKERS.sub("", after).lstrip()[:1]  # "... [1] Next": the next word
    if _ELLIPSIS.search(tail):
        return first.isupper()
    if tail[-1:] in "?!" and stripped[-1:] in _CLOSERS and first.islower():
        return False  # ("Which port does it use?" is not answered by ...): a quoted question
    if _ABBREVIATION.search(tail) and first.islower():
        return False
    return not (_INITIAL.search(tail) and first.isupper())


def split_at_stops(text: str) -> list[str]:
    """``text`` cut after each full stop, ! or ? that whitespace follows, each piece keeping
    the closing quotes and brackets after its stop (``(see Backups.)``); whether a cut ends
    a sentence is ``sentence_ends``' call."""
    parts: list[str] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        parts.append(text[pos : m.end(1)])
        pos = m.end()
    parts.append(text[pos:])
    return parts


_CLOSING = set(".!?。:;)]`'\"”’")
_LABEL_WORDS = 8
"""The most words a title or label line (``_label``, ``title``) has."""
_TITLE_WORDS = 16
"""The most words ``opening_title`` reads as a record's title line, which is never quoted."""


def body(citation: Citation) -> str:
    """The chunk's text without the heading breadcrumb the chunker puts on its first line
    (it stays in the source's terms, for coverage, but is no statement)."""
    path = citation.location.heading_path
    first, sep, rest = citation.text.partition("\n")
    if path and sep and first.strip() == " > ".join(path):
        return rest
    return citation.text


def title(citation: Citation) -> str:
    """What the chunk's document or section is about: its heading breadcrumb, or the title
    line that opens it (a record's title before a blank line); "" when it has none."""
    path = citation.location.heading_path
    if path:
        return " ".join(path)
    return opening_title(citation.text, most=_LABEL_WORDS)


def name(citation: Citation) -> str:
    """What the chunk's document is called, when its title opens with one word: the first
    part of its breadcrumb or title line ("logship" of "logship > Configuration", "Volcanoes",
    "인플레이션"); "" for a title of several words ("The water cycle"), which names a topic
    rather than a thing, and for a file's path ("docs/install.md")."""
    path = citation.location.heading_path
    whole = " > ".join(path) if path else title(citation)
    first = whole.split(" > ")[0].strip()
    if "/" in first or re.search(r"\w\.[A-Za-z]{1,4}$", first):
        return ""  # a file's path ("docs/install.md"): its stem is a common word, no name
    return first if first and len(first.split()) == 1 else ""


def opening_title(text: str, *, most: int = _TITLE_WORDS) -> str:
    """The line opening ``text`` as its title: followed by a blank line, without closing
    punctuation and of at most ``most`` words ("Why a door handle gives you a static shock",
    longer than ``title`` reads as one); "" when none. It names what the text is about and
    answers nothing: "Why do I get zapped by door handles?" shares its words, not its
    answer."""
    first, sep, rest = text.partition("\n")
    first = first.strip()
    return first if sep and rest.startswith("\n") and _label(first, most=most) else ""


def _label(line: str, *, most: int = _LABEL_WORDS) -> bool:
    """A title or label rather than a statement: a short line (at most ``most`` words) with
    no closing punctuation."""
    return bool(line) and line[-1] not in _CLOSING and len(line.split()) <= most


def statements(text: str) -> list[str]:
    """A source's statements: prose split into sentences, each line of a code block whole
    (wrapped in backticks; a shell command continued over lines with "\\" is one line), list
    items on their own; headings, fences, titles (a short line
    with no closing punctuation) and lines with no letters left out."""
    out: list[str] = []
    para: list[str] = []

    def flush() -> None:
        rows = table_rows(para)
        if len(para) > 1 and all(_FIELD.match(line.strip()) for line in para):
            rows = [line.strip() for line in para]  # a record's fields: one statement each
        joined = " ".join(para).strip()
        para.clear()
        if rows is not None:
            out.extend(rows)  # each row of a table is a statement of its own
            return
        if not joined:
            return
        if _label(joined):
            return  # a title or label, not a statement
        parts = split_at_stops(joined)
        for i in range(1, len(parts)):  # "Linus Yale Sr. in 1848": no sentence ends there
            if not sentence_ends(parts[i - 1], parts[i]):
                parts[i - 1], parts[i] = "", f"{parts[i - 1]} {parts[i]}"
        for i in range(len(parts) - 1):  # "No. It needs ...": a one-word reply opens the next
            if reply(parts[i]):
                parts[i], parts[i + 1] = "", f"{parts[i]} {parts[i + 1]}"
        for i in range(1, len(parts)):  # "... workers. Default: 50.": a remark on the one before
            if remark(parts[i]) and parts[i - 1] and not asks(parts[i - 1]):
                parts[i - 1], parts[i] = "", f"{parts[i - 1]} {parts[i]}"
        out.extend(p for p in parts if sum(ch.isalpha() for ch in p) >= 3)

    lines = text.splitlines()
    in_code = _starts_in_code(lines)
    held = ""  # a shell command's lines so far, each ending in "\\" (continued on the next)
    for line in lines:
        if _FENCE.match(line):
            flush()
            if held:
                out.append(f"`{held}`")  # a block cut after a continued line
                held = ""
            in_code = not in_code
            continue
        if in_code:
            code = f"{held} {line.strip()}".strip() if held else line.strip()
            if code.endswith("\\") and len(code) > 1:
                held = code[:-1].rstrip()  # `docker run -d \` alone says nothing
                continue
            held = ""
            if sum(ch.isalpha() for ch in code) >= 3:
                out.append(f"`{code}`")
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            flush()
            continue
        if _DECORATION.match(line):  # a list item or quote starts a statement of its own
            flush()
            line = _DECORATION.sub("", line)
        para.append(line.strip())
    flush()
    if held:
        out.append(f"`{held}`")
    return out


def code_line(statement: str) -> bool:
    """A line of a code block, as ``statements`` gives one (wrapped in backticks)."""
    return statement.startswith("`") and statement.endswith("`")


def fence_context(text: str, code: str) -> tuple[str, str]:
    """What is said of the fenced code block of ``text`` that holds the line ``code``: the prose
    line just above it ("Every key has a default, shown here:" above ``batch_size = 500``) and
    the first sentence of prose just below it ("The values shown are the defaults, ..."), each
    "" where there is none (no fenced block holds it, the block opens the chunk, a heading or
    another block comes next)."""
    lines = text.splitlines()
    in_code, intro, prose, holds = _starts_in_code(lines), "", "", False
    for at, line in enumerate(lines):
        if _FENCE.match(line):
            if in_code and holds:
                return intro, _prose_after(lines[at + 1 :])
            intro = prose if not in_code else intro
            in_code = not in_code
        elif in_code:
            holds = holds or line.strip() == code
        elif line.strip() and not line.lstrip().startswith("#"):
            prose = line.strip()
    return (intro, "") if holds else ("", "")


def _prose_after(lines: Sequence[str]) -> str:
    """The first sentence of the first non-blank line, "" when that line is a heading or a
    fence."""
    line = next((x.strip() for x in lines if x.strip()), "")
    if not line or line.startswith("#") or _FENCE.match(line):
        return ""
    return split_at_stops(line)[0]


def _starts_in_code(lines: Sequence[str]) -> bool:
    """True when a chunk starts inside a code block the chunker cut: its fences are odd in
    number and the first one closes a block — it names no language (```toml opens one) and
    no heading comes before it (a chunk cut at its end opens a block and stops inside)."""
    fences = [i for i, line in enumerate(lines) if _FENCE.match(line)]
    if len(fences) % 2 == 0:
        return False
    first = lines[fences[0]].strip()
    if first.lstrip("`~").strip():
        return False  # ```toml: an opening fence
    return not any(line.lstrip().startswith("#") for line in lines[: fences[0]])


_PIPE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")


def table_rows(lines: Sequence[str]) -> list[str] | None:
    """The data rows of a table written as text — a Markdown pipe table, or CSV/TSV lines —
    verbatim, its header and rule left out; None for anything else. A delimited table is at
    least three lines split into the same number (3 or more) of cells of mostly one or two
    words, none ending a sentence, or two such lines of 4 or more cells both holding a number
    (a chunk's last rows); its first line is a header unless it holds a digit (a chunk may
    start mid-table, as a pipe table without its ``|---|`` rule does)."""
    if len(lines) >= 2 and all(line.startswith("|") and line.endswith("|") for line in lines):
        rule = next((i for i, line in enumerate(lines) if _PIPE_RULE.match(line)), None)
        header = rule - 1 if rule else None
        return [
            line
            for i, line in enumerate(lines)
            if i != header and not _PIPE_RULE.match(line) and any(ch.isalnum() for ch in line)
        ]
    if len(lines) < 2 or any(line.rstrip().endswith((".", "!", "?")) for line in lines):
        return None  # prose: a paragraph's last line ends a sentence
    # two lines are a table's last rows (a chunk's tail) when they are data: 4 or more cells
    # each, both holding a number ("Markdown,.md,yes,no,2.7,1 MB,...")
    least = 3 if len(lines) > 2 else 4
    if len(lines) == 2 and not all(any(ch.isdigit() for ch in line) for line in lines):
        return None
    for delimiter in (",", "\t", ";"):
        cells = list(csv.reader(list(lines), delimiter=delimiter))
        words = sorted(len(cell.split()) for row in cells for cell in row)
        if (
            len({len(r) for r in cells}) == 1
            and len(cells[0]) >= least
            and words[len(words) // 2] <= 2
        ):
            named = not any(ch.isdigit() for cell in cells[0] for ch in cell)
            return list(lines[1:] if named else lines)
    return None


def row_cells(line: str) -> list[str]:
    """The cells of a pipe table row (``| a | b |``) or of a CSV line, stripped."""
    line = line.strip()
    if line.startswith("|"):
        return [cell.strip() for cell in line.strip("|").split("|")]
    return [cell.strip() for cell in next(csv.reader([line]), [])]


def table_header(text: str) -> str:
    """The header of the first table in ``text`` whose header ``table_rows`` leaves out (a CSV
    file's first line, the line above a pipe table's rule), "" when there is none: its column
    names ("database,minimum_version,transactional_ddl") say what each row's cells are."""
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        rows = table_rows(lines)
        if rows is not None and len(rows) < len(lines):
            rule = next((i for i, line in enumerate(lines) if _PIPE_RULE.match(line)), None)
            return lines[rule - 1] if rule else lines[0]
    return ""


def reply(text: str) -> bool:
    """A one-word reply ("No.", "Yes.", "네.") that opens the sentence after it."""
    words = text.split()
    return len(words) == 1 and words[0][-1] in ".!。" and words[0][:-1].isalpha()


def remark(text: str) -> bool:
    """A short remark on the sentence before it ("Default: 50.", "Both are optional."): two or
    three words that end a sentence, no question. It belongs with that sentence: quoted alone
    it says nothing, and the sentence alone leaves out what the remark adds. Not Korean: three
    Korean words make a whole clause ("이를 QLoRA라 한다."), which the ``follow`` rule of the
    extractive answerer judges on its own."""
    return (
        2 <= len(text.split()) <= 3
        and text.rstrip()[-1:] in ".!。"
        and not asks(text)
        and not has_hangul(text)
    )


def asks(text: str) -> bool:
    """True for a question (an FAQ entry's first line, a heading-like "Why ...?"), or an FAQ
    entry's line marked "Q:" that states a problem ("Q: The web UI shows grey boxes.")."""
    if text.rstrip("*_` ").endswith(("?", "？")):
        return True
    marked = FAQ_MARK.match(text)
    return marked is not None and marked.end() < len(text)


def fragment(text: str, chunk: str | None = None) -> bool:
    """True for the tail of a sentence cut by a chunk boundary: it starts in lower case and
    (given the ``chunk`` body it came from) opens the chunk. A statement after a title or a
    heading starts a paragraph, whatever its case ("logship reads ..." under a heading)."""
    if chunk is not None:
        opening = next((line.strip() for line in chunk.splitlines() if line.strip()), "")
        n = min(20, len(opening), len(text))
        if opening[:n] != text[:n]:
            return False  # something (a title, a heading, a list marker) comes before it
    if text.startswith(("`", "|")):
        return False  # a code line, a table row (a chunk may open mid-table)
    if _FIELD.match(text):
        return False  # a record's "field: value" lines (a CSV row, a JSON object)
    first = next((ch for ch in text if ch.isalpha()), "")
    return first.isascii() and first.islower()
