"""The extractive answerer's ``type_gate``: whether the sentences it would quote give the kind
of thing the question asks for — a number in the unit asked, a limit, the thing measured, the
kind of place, the word asked rather than its contrast. When they do not, the sources talk
about the topic without saying, and the answer declines (``pipelines/extractive.md`` has what
each check measured)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.pipelines.answer_amounts import NUMBER, NUMBER_WORDS
from rag.pipelines.answer_events import WON, asks_who_won, lived, unsaid_event
from rag.pipelines.answer_people import asks_who_did, names_no_one, names_someone
from rag.pipelines.answer_specs import other_dimension, unsaid_rate
from rag.pipelines.answer_types import (
    BOUND,
    SAYS_DEFAULT,
    asks_bound,
    said_pattern,
    says_default,
    wants_quantity,
)
from rag.pipelines.counted import counted_things, lasting_things, names_counted, unsaid_lifespan
from rag.pipelines.extractive_rules import row_key
from rag.pipelines.statements import code_line, fence_context, statements
from rag.pipelines.subjects import (
    asked_kind,
    contrasted,
    en_sibling,
    measured_subject,
    names_kind,
    names_subject,
    other_period,
    said_of_another,
    sibling,
    unnamed_run,
    unwritten_years,
)


def declined(
    question: str,
    lang: str,
    *,
    quoted: Sequence[str],
    before: Sequence[str],
    heads: Sequence[str],
    headers: Sequence[str],
    foreign: bool,
    prose: bool = False,
) -> str | None:
    """Why the ``quoted`` sentences do not answer ``question`` (None: they may). ``before``: the
    sentence before each quoted one in its document ("" where there is none); ``heads``: their
    sections' titles; ``headers``: their tables' headers; ``foreign``: the best sentence is
    from a page in another language than ``lang``, the question's; ``prose``: their pages
    write no code name (``writes_code``), so "what key is Winter in?" asks no config key
    (unless it says so: "the config key", "which env var")."""
    said = " ".join(quoted)
    if wants_quantity(question):
        # asked for a quantity (in a unit: 몇 km, 몇 명) or a time (언제, when), the best
        # sentences give none. Units and counters are matched in the question's language; a
        # page in another (an English question, a Korean page: "90일") need only hold a number
        said_as = NUMBER if foreign else said_pattern(question)
        blank = blanker(question)  # the question read once, for all the sentences and each
        if not said_as.search(blank(said)):
            return "the closest sentences give no number, date or amount of the kind asked"
        if lang == "en":  # the number is said of Jacques Piccard, James Cameron was asked
            gives = [said_as.search(blank(q)) is not None for q in quoted]
            other = said_of_another(question, quoted, gives)
            if other is not None:
                return f"the closest sentences say it of {other[1]}, not {other[0]}"
        # a Korean question measuring something ("탁구 라켓 무게는 몇 g") is not answered by the
        # weight of the ball: the thing measured is named in the quoted sentences, the
        # sentence before them or their section's title
        subject = measured_subject(question)
        if subject is not None and not any(
            names_subject(subject, t) for t in (said, *before, *heads)
        ):
            return f"the closest sentences do not say it of {subject}"
        # "How wide are the clock faces?" is not answered by "a clock tower, about 96 m tall"
        dimension = other_dimension(question, said) if lang == "en" else None
        if dimension is not None:
            return f"the closest sentences give the {dimension[1]}, not the {dimension[0]}"
        # asked when someone was born or how many died, the quoted sentences (or the one before
        # them) say a birth or a death, not the year a mountain was named after him
        event = unsaid_event(question, [said, *before]) if lang == "en" else None
        if event is not None:
            return f"the closest sentences do not say when or how many {event}"
        # ... nor of another: asked when Meriwether Lewis died, "Only one member died:
        # Sergeant Charles Floyd" (neither it nor the sentence before names Lewis)
        person = (
            unnamed_run(question, [said, *before]) if lang == "en" and lived(question) else None
        )
        if person is not None:
            return f"the closest sentences do not say it of {person}"
        # an English count of ships is not answered by a count of towns: the thing counted is
        # named in the quoted sentences, the sentence before them or their titles
        counted = counted_things(question) if lang == "en" else []
        if (
            counted
            and not sets_asked_key(quoted, question)
            and not any(names_counted(counted, t) for t in (said, *before, *heads))
        ):
            return f"the closest sentences do not count {' '.join(counted)}"
        # "how long does an app password stay valid?" is not answered by how long a deleted
        # user's shelves are kept: what is timed is named in the quoted sentences, the
        # sentence before them or their titles
        timed = lasting_things(question) if lang == "en" else []
        if timed and not any(names_counted(timed, t) for t in (said, *before, *heads)):
            return f"the closest sentences do not time {' '.join(timed)}"
        if lang == "en" and unsaid_lifespan(question, [said, *before, *heads]):
            return "the closest sentences do not say how long it lives"
        # asked for a limit, the quoted sentences (or their table's header) state none: an
        # example (`--workers 4`) or another measure is not the maximum
        # (a key or table column written in snake case, `max_photo_size = "10MB"`,
        # `max_upload_threads`, says max)
        # an FAQ's question line before its reply names the limit the reply gives ("Q: Is
        # there a size limit ...?" above "A: Yes, 32 KB per variation.")
        if asks_bound(question) and not BOUND.search(
            " ".join(
                [
                    _keys_spelled_out(said, question),
                    *(b for b in before if b.rstrip().endswith("?")),
                    *(h.replace("_", " ") for h in headers),
                ]
            )
        ):
            return "the closest sentences give no limit"
    kind = asked_kind(question)
    if kind is not None and not any(names_kind(kind, t) for t in (*quoted, *heads)):
        # asked which museum or university, the quoted sentences name none: they say where
        # the thing is or who studied it, not in which museum or university
        return f"the closest sentences name no {kind}"
    said_or_titled = " ".join([*quoted, *heads])
    if lang == "ko":
        # asked the lower limit (하한) or the east gate, the quoted sentences give the upper
        # limit or the north gate; asked 한라급's limit, they give 백두급's
        other = contrasted(question, said_or_titled) or sibling(question, said_or_titled)
        if other is not None:
            return f"the closest sentences say {other[1]}, not {other[0]}"
    elif lang == "en":
        # asked the price per month, the quoted sentences give it per year
        period = other_period(question, said_or_titled)
        if period is not None:
            return f"the closest sentences give it per {period[1]}, not per {period[0]}"
        # asked about Lake Poopó, the quoted sentences (or their titles) name Lake Titicaca
        other = en_sibling(question, said_or_titled)
        if other is not None:
            return f"the closest sentences say {other[1]}, not {other[0]}"
        # asked what the rate limit is, the quoted sentences give no number per a period
        if unsaid_rate(question, said):
            return "the closest sentences give no rate"
        # asked which key, variable or flag sets something, the quoted sentences write none:
        # "Each user can add up to 5 device addresses" names no key that limits them
        key = _KEY_ASKED.search(question)
        if (
            key is not None
            and not (prose and _CODE_WORDS.search(key.group(0)) is None)
            and not any(_CODE_NAME.search(q) for q in quoted)
        ):
            return "the closest sentences name no key, variable or flag"
        # asked "does it use STARTTLS or implicit TLS?", the quoted sentences write neither
        offered = choice_offered(question)
        if offered and not any(
            re.search(rf"\b{re.escape(word)}", said_or_titled, re.I) for word in offered
        ):
            return f"the closest sentences say neither {' nor '.join(offered)}"
        # asked who invented or built something, the quoted sentences name no one
        if names_no_one(question, quoted):
            return "the closest sentences name no one"
        if asks_who_did(question):  # "Red Rum, trained by Ginger McCain" to who trained Tiger Roll
            gives = [names_someone(question, q) for q in quoted]
            other = said_of_another(question, quoted, gives)
            if other is not None:
                return f"the closest sentences say it of {other[1]}, not {other[0]}"
        # asked who won, neither the quoted sentences nor the ones before them say a win:
        # "The Women's Boat Race began in 1927 on the Isis" names no winner
        if asks_who_won(question):
            won = [
                f"{h}\n{b} {q}"
                for q, b, h in zip(quoted, before, heads, strict=True)
                if WON.search(f"{b} {q}")
            ]
            if not won:
                return "the closest sentences do not say who won"
            # ... of another contest: asked who won the first Solheim Cup or the race of 1927,
            # "the Americans won" follows "The Ryder Cup ...", "won by Oxford" is said of 1829
            # (the title counts: "The America's Cup" is what "Alinghi took the cup" is about)
            contest = unnamed_run(question, won, every=True) or ", ".join(
                unwritten_years(question, won)
            )
            if contest:
                return f"the closest sentences say who won, not of {contest}"
    return None


_KEY_ASKED = re.compile(
    r"\b(?:which|what)(?:'s|\s+is)?\s+(?:the\s+)?(?:config(?:uration)?\s+|toml\s+|yaml\s+)?"
    r"(?:key|env(?:ironment)?\s+var(?:iable)?|variable|flag|setting|option)s?\b",
    re.I,
)
"""A question asking which setting, key, variable or flag does something: a code name answers."""
_CODE_WORDS = re.compile(r"config|toml|yaml|env", re.I)
"""Words that make the key asked a code name even over prose ("the config key"); without one,
over pages writing no code, it may be a musical key or a national flag."""
_CODE_NAME = re.compile(
    r"`[^`\s]+`|(?<![\w-])--?[a-z][\w-]*|\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b|"
    r"\b[a-z]\w+\.[a-z]\w+\b|^\s*[\w.]+\s*[=:]"
)
"""A key, variable or flag as docs write one: one word in backticks (not a command such as
``vetchlink token create``), a dashed flag, ``metrics_listen``, ``FERNCRATE_CACHE_DIR``,
``database.url`` or a config line's ``key =``."""


def _keys_spelled_out(said: str, question: str) -> str:
    """``said`` with each snake_case key the ``question`` does not write read as words
    (`max_photo_size` -> "max photo size": the key says max); a key the question asks
    about ("the highest value max_parallel accepts") says nothing of its own bound."""
    asked = re.findall(_SNAKE, question.lower())
    return re.sub(
        _SNAKE,
        lambda m: (
            m.group(0)
            if any(key in m.group(0).lower() for key in asked)
            else m.group(0).replace("_", " ")
        ),
        said,
    )


_SNAKE = r"\b[A-Za-z]\w*(?:_\w+)+\b"


def writes_code(text: str) -> bool:
    """``text`` (a page) writes code: something in backticks, or a key, variable or flag on
    some line (``_CODE_NAME``)."""
    return "`" in text or any(_CODE_NAME.search(line) for line in text.splitlines())


_CHOICE_ASKED = re.compile(
    r"^\W*(?:does|do|did|is|are|was|were|will|should)\b[^,?]*?\b([\w.+-]+)\s+or\s+"
    r"(?:(?:a|an|the)\s+)?([\w.+-]+)(?:\s+[\w.+-]+){0,2}\s*\??\s*$",
    re.I,
)
_FILLERS = frozenset(["a", "an", "the", "it", "its", "first", "last", "one"])


def choice_offered(question: str) -> list[str]:
    """The two words a closed question offers to choose from, the one before "or" and the one
    after ("Does the relay use STARTTLS or implicit TLS?": STARTTLS, implicit); none for a
    question without such an ending choice ("Can I use MySQL or any other database at run
    time?" is a yes/no) or whose choice is between clauses ("do all the conditions have to be
    true or is one enough?")."""
    m = _CHOICE_ASKED.search(question)
    if m is None:
        return []
    words = [w for w in m.groups() if w.lower() not in _FILLERS]
    if _CLAUSE_OPENS.match(m.group(2)):  # "... have to be true or is one enough?": a clause
        return []
    return words if len(words) == 2 else []


_CLAUSE_OPENS = re.compile(
    r"(?:is|are|was|were|does|do|did|will|would|can|could|should|must|has|have|had)$", re.I
)
"""A word after "or" that opens a clause of its own, not a second thing to choose."""


def gives_default(text: str, code: set[str], header: str, chunk: str) -> bool:
    """``text``, a statement of ``chunk`` (under a table's ``header``), says what holds when
    nothing is set: in its own words (``says_default``, near the ``code`` names asked), in its
    table's column for a default ("| flag | meaning | default |" above "| `ramp` | ... | 30s
    |"), or as a line of a code block shown as the defaults ("Every key has a default, shown
    here:", "the values below are the defaults." or "Every key is optional:" above it, "The
    values shown are the defaults" below it; not "Every key has a default, so an empty file
    is valid." above an example)."""
    if says_default(text, code) or (row_key(text) and SAYS_DEFAULT.search(header)):
        return True
    if not code_line(text):
        return False
    intro, outro = fence_context(chunk, text[1:-1])
    if (intro.endswith(":") or _BELOW.search(intro)) and SAYS_DEFAULT.search(intro) is not None:
        return True  # "Every key has a default, shown here:", "the values below are ..."
    if intro.endswith(":") and _ALL_OPTIONAL.search(statements(intro)[-1]):
        return True  # "Every key is optional:" above the file: what holds when none is set
    return _SHOWN.search(outro) is not None and SAYS_DEFAULT.search(outro) is not None


_GIVEN = re.compile(r"\d(?:[\d,.:]*\d)?")
_GIVEN_WORD = re.compile(rf"\b(?:{NUMBER_WORDS})\b", re.I)
_CHOICE = re.compile(r"\bor\b", re.I)


def given_blanked(question: str, said: str) -> str:
    """``said`` without the numbers ``question`` itself writes: "Port 6121 is the upload
    endpoint" does not say which version supports uploads on port 6121. A question offering a
    choice ("6120 or 6121?") keeps them: one is the answer. A number word counts too: "one
    photo can sit in many albums" gives no count of photos in one album."""
    return blanker(question)(said)


def blanker(question: str) -> Callable[[str], str]:
    """``given_blanked`` for one ``question``, read once: the ranking blanks every candidate
    sentence with it."""
    if _CHOICE.search(question):
        return lambda said: said
    given = [
        re.compile(rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)")
        for number in set(_GIVEN.findall(question))
    ]
    given += [  # "in one album"
        re.compile(rf"\b{word}\b", re.I)
        for word in {w.lower() for w in _GIVEN_WORD.findall(question)}
    ]

    def blank(said: str) -> str:
        for pattern in given:
            said = pattern.sub(" ", said)
        return said

    return blank


_ALL_OPTIONAL = re.compile(
    r"\b(?:every|each|all)\s+(?:the\s+)?(?:keys?|settings?)\s+(?:is|are)\s+optional\b", re.I
)
"""A sentence introducing a settings file by saying nothing in it has to be set."""
_BELOW = re.compile(r"\b(?:below|following|shown\s+here)\b", re.I)
"""A sentence above a code block that speaks of the block's lines."""
_SHOWN = re.compile(r"\b(?:shown|above|these|listed)\b", re.I)
"""A sentence below a code block that speaks of the block's lines."""


_SETS_KEY = re.compile(r"`?([A-Za-z_][\w.-]*)`?\s*[=:]\s*\S")
"""A config line setting a key: ``limit = 200``, ``workers: 4``."""


def sets_asked_key(quoted: Sequence[str], question: str) -> bool:
    """The best quoted statement is a config line setting a key the question writes ("If I
    leave out limit, how many tracks does it pick?" over ``limit = 200  # default 500``): its
    value counts what the key counts, named or not."""
    line = quoted[0].strip() if quoted else ""
    m = _SETS_KEY.match(line)
    return (
        m is not None
        and code_line(line)
        and re.search(rf"(?<![\w-]){re.escape(m.group(1))}(?![\w-])", question, re.I) is not None
    )
