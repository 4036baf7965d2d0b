"""What a question asks about, beyond the type of its answer: the thing a Korean one measures
("탁구 라켓 무게는 몇 g" measures 라켓), the kind of place or body it asks for ("어느
박물관"), the word of a contrasted set or the name it asks (하한, 한라급), the period an
English one asks a rate per (per month). A quoted sentence that gives another (the ball's
weight, the city a museum is in, 상한, 백두급, per year) answers another question: the
extractive answerer declines."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from rag.keywords import has_hangul, proper_compounds
from rag.pipelines.answer_dates import MONTHS, WEEKDAYS

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
_EN_NAMED_KINDS = "university|college|museum|hospital|airport"
"""The same in English: "St Mary's Hospital", "Harvard University"; not city, river, gallery
or cathedral as kinds asked (London, the Thames, the Uffizi and Notre-Dame name none), though
a museum may be called a gallery (``names_kind``)."""
_ALSO_CALLED = {"museum": r"museum|galler(?:y|ies)"}
"""What else a member of a kind is called: a museum may be a gallery ("the Uffizi Gallery")."""
_ASKED_KIND = re.compile(
    rf"(?:어느|어떤|무슨)\s*({_NAMED_KINDS})|\b(?:which|what)\s+({_EN_NAMED_KINDS})\b",
    re.IGNORECASE,
)


def asked_kind(question: str) -> str | None:
    """The kind of place or body a question asks for ("어느 박물관에 있어요?" -> 박물관, "Which
    hospital ...?" -> hospital), None when it asks for no such kind. Its members' names carry
    it: a sentence naming none does not say which."""
    m = _ASKED_KIND.search(question)
    return (m.group(1) or m.group(2).lower()) if m else None


def names_kind(kind: str, text: str) -> bool:
    """``text`` names a member of ``kind`` (an ``asked_kind``): it writes the kind ("the
    National Museum", "서울대학교") or another word for it ("the Uffizi Gallery")."""
    return re.search(_ALSO_CALLED.get(kind, re.escape(kind)), text, re.IGNORECASE) is not None


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


_TRAILING_PARTICLE = "도는은이가를을에의와과랑때"


def unwritten_names(question: str, texts: Sequence[str]) -> list[str]:
    """The names a Korean ``question`` asks about (``proper_compounds``: 인천공항, 알바트로스)
    that none of ``texts`` writes, spaces ignored (바이칼호 for 바이칼 호), nor without its last
    syllable: a particle kiwi left on it (유성우도, 병자호란때) or a suffix (함흥냉면집 for
    함흥냉면 가게). Sources that never write the name do not talk about it."""
    names = proper_compounds(question)
    if not names:
        return []
    written = re.sub(r"\s+", "", "".join(texts))
    return sorted(
        name
        for name in names
        if name not in written
        and not ((len(name) >= 4 or name[-1] in _TRAILING_PARTICLE) and name[:-1] in written)
    )


_EN_NAME = re.compile(r"(?<![\w.-])[A-Z][a-z]+(?:[A-Z][a-z]*)*(?:['’][a-z]+)?(?![\w-])")
"""A capitalized English word ("Prometheus", "GitLab", "Harrison's"); acronyms aside (RAM,
NAS, PDF: as often a common noun as a name)."""


DEMONYM = re.compile(
    r"(?:ish|ian|ese|ean)$|^(?:poles|turks|danes|swedes|finns|czechs|slovaks|serbs|croats|"
    r"greeks|arabs|thais|britons|brits|saxons|normans|vikings|moors|franks|celts|ottomans)$",
    re.I,
)
"""An adjective of a people or an age ("Irish", "Norwegian", "Victorian", "Chinese"), or a
people ("the Poles", "the Danes"): the sources write the country or the name it comes from."""


def _opens(text: str, at: int) -> bool:
    """The word at ``at`` opens ``text`` or one of its sentences, headings or bullets (or a
    quote or bracket, or a cell of a table's header row): its capital says nothing of a name.
    A line's first word is as often a name ("Brevo,smtp,587" in a CSV row)."""
    if re.search(r"\n[ \t]*\n[ \t]*$", text[:at]):
        return True  # a paragraph's first word (after a blank line)
    line_start = text.rfind("\n", 0, at) + 1
    opening = text[line_start:at]
    if (opening.strip() == "" and at > line_start) or re.fullmatch(
        r"[ \t]*[#>*+-]+[ \t]*", opening
    ):
        return True  # an indented line's first word, a heading's or a bullet's
    if opening.lstrip().startswith("|") and re.match(
        r"\n[ \t]*\|[ \t:]*-", text[text.find("\n", at) :]
    ):
        return True  # a cell of a table's header row: "| Status | meaning |"
    before = text[:at].rstrip()
    return not before or before[-1] in ".?!:;\"'("


def _folded(text: str) -> str:
    """Lower case without accents: "Röntgen" and "Rontgen" read alike."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def unwritten_en_names(question: str, texts: Sequence[str]) -> list[str]:
    """The capitalized names an English ``question`` asks about ("Prometheus", "Lisbon") that
    none of ``texts`` writes, read loosely: a word opening the question or one of its
    sentences, a month, a day, an opener and an adjective of a people aside; a possessive or
    plural "s" dropped; written when a word in the texts begins with its first five letters
    ("Mendeleyev" for Mendeleev, "Rontgen" for Röntgen). Sources that never write the name do
    not talk about it."""
    if has_hangul(question):
        return []
    said = _folded("\n".join(texts))
    missing = []
    for m in _EN_NAME.finditer(question):
        word = m.group(0)
        if _opens(question, m.start()) or word.lower() in NOT_NAMES:
            continue
        if DEMONYM.search(word):  # "the Irish famine", "a Norwegian king": over Ireland, Norway
            continue
        stem = re.sub(r"(?:['’]s|['’]|s)$", "", _folded(word))
        if len(stem) >= 3 and not re.search(rf"\b{re.escape(stem[:5])}", said):
            missing.append(word)
    return missing


_RUN_GOES_ON = re.compile(
    r"(?:['’]s)?[ \t]+(?:(?:of|for|the|de|del|da|di|du|von|van|la|le)[ \t]+)*[A-Z]"
)
"""A capitalized word that another follows, directly or over "of", "for the": "Women's" in
"The Women's Boat Race", "Run" in "the Run for the Roses" are part of a name, not the name."""


def written_as_names(question: str, texts: Sequence[str]) -> list[str]:
    """The words of an English ``question`` (any case) that ``texts`` write only as names:
    capitalized every time, at least once inside a sentence and last in its run of capitals
    ("who invented vegemite" over "Vegemite was created ..."). A source that never writes
    such a word is about something else, however well its other words match ("The computer
    mouse was invented ...")."""
    if has_hangul(question):
        return []
    body = "\n".join(texts)
    found = []
    for word in dict.fromkeys(w.lower() for w in re.findall(r"[A-Za-z][a-z]{2,}", question)):
        if word in NOT_NAMES:
            continue
        hits = list(re.finditer(rf"(?<![\w-]){word}(?![\w-])", body, re.I))
        if all(h.group(0)[0].isupper() for h in hits) and any(
            not _opens(body, h.start()) and _RUN_GOES_ON.match(body, h.end()) is None for h in hits
        ):
            found.append(word)
    return found


def unwritten_keys(names: Iterable[str], texts: Sequence[str]) -> list[str]:
    """The snake_case or upper-case keys among ``names`` (a question's code names:
    ``max_title_length``, ``APP_TOKEN``) that none of ``texts`` writes, case aside; a
    pattern (``APP_*``) or a prefix (``APP_``) aside. Sources that never write the setting
    asked about do not give its default."""
    said = "\n".join(texts).lower()
    return sorted(
        name
        for name in names
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+", name)
        and name.lower() not in said
    )


_YEAR_ASKED = re.compile(
    r"\b(?:in|of|since|before|after|until|till|during|year|the)\s+(1[0-9]{3}|20[0-9]{2})"
    r"(?!\w|[.,-]\d)|(?<![\w.,-])(1[0-9]{3}|20[0-9]{2})(?=\s?년(?!생))",
    re.IGNORECASE,
)
"""A year a question names: after "in", "of", "since", "the"... ("the 2010 Stanley Cup",
"marathon of 1900") or before 년 (1900년 올림픽, not 1970년생: a birth year is the asker's
own); not a count or a setting ("on rate 2000", "was 1199", "in 1932-33")."""


def unwritten_years(question: str, texts: Sequence[str]) -> list[str]:
    """The years ``question`` names that none of ``texts`` writes (digits not part of a longer
    number): sources that never write the year of the event asked about do not tell it."""
    years = {m.group(1) or m.group(2) for m in _YEAR_ASKED.finditer(question)}
    if not years:
        return []
    said = "\n".join(texts)
    return sorted(y for y in years if not re.search(rf"(?<!\d){y}(?!\d)", said))


def sibling(question: str, said: str) -> tuple[str, str] | None:
    """(the name a Korean question asks about, the sibling ``said`` gives instead) when the
    question names something (``proper_compounds``: 한라급, 흥보가) that ``said`` does not, and
    ``said`` names another of its kind instead: as long, the same last syllable, another first
    one (백두급, 춘향가), not itself in the question; or the name without its first syllable,
    the plain kind of which it names one (두루미 for 재두루미). "한라급은 몇 kg" is not answered
    by "백두급은 140kg 이하"; None otherwise."""
    asked = [w for w in proper_compounds(question) if w not in said]
    if not asked:
        return None
    for name in sorted(asked):
        if len(name) >= 4 and name[1:] in said:
            return name, name[1:]  # 재두루미 asked, 두루미 given: the plain kind, not this one
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


_EN_RUN = re.compile(
    r"(?<![\w.-])[A-Z][a-z][\w’'-]*(?:\s+(?:[A-Z][a-z][\w’'-]*|[A-Z]s?)(?![\w’'-]))+"
)
"""A run of capitalized words, perhaps ending in a capital letter ("Lake Titicaca", "Ryder
Cup", "Model T"); not acronyms or versions (AVX2, Python 3.9)."""


def _en_runs(text: str, *, asked: bool = False) -> list[tuple[str, ...]]:
    """The runs of two or more capitalized words ``text`` writes, each as its lower-case words
    without accents, a possessive or a letter's plural ("Model Ts"), and without words that
    open sentences ("Rodin's The Thinker"); in a question (``asked``), nor the word opening it
    ("Did Halley")."""
    runs = []
    for m in _EN_RUN.finditer(text):
        words = [_folded(re.sub(r"['’]s?$|(?<=^[A-Z])s$", "", w)) for w in m.group(0).split()]
        if asked and _opens(text, m.start()):
            words = words[1:]
        words = [w for w in words if w not in NOT_NAMES]
        if len(words) >= 2:
            runs.append(tuple(words))
    return runs


def _within(run: tuple[str, ...], runs: Sequence[tuple[str, ...]]) -> bool:
    """``run`` is one of ``runs`` or a part of one ("Model T" in "Ford Model T")."""
    n = len(run)
    return any(run == other[i : i + n] for other in runs for i in range(len(other) - n + 1))


def _worded(run: tuple[str, ...], folded: str) -> bool:
    """Every word of ``run``, each of three letters or more, is in ``folded`` (a plural too):
    "Model A" is not written by any "a", "Donatello David" is by "Davids by Donatello"."""
    return all(len(w) >= 3 for w in run) and all(_word_in(w, folded) for w in run)


def _word_in(word: str, folded: str) -> bool:
    """``folded`` writes ``word`` whole, or its plural."""
    return re.search(rf"\b{re.escape(word)}s?\b", folded) is not None


def en_sibling(question: str, said: str) -> tuple[str, str] | None:
    """(the name an English question asks about, the sibling ``said`` names instead) when the
    question names a run of capitalized words ("Lake Poopó", "Solheim Cup", "Model A") that
    ``said`` does not write, and ``said`` writes another run of its kind instead: the same
    first word and another rest ("Lake Titicaca"), or the same last word and another start
    ("Ryder Cup"), not itself in the question. "How deep is Lake Poopó?" is not answered by
    a sentence under "Lake Titicaca"; None otherwise. A name ``said`` writes word by word
    ("Donatello's David" as "bronze Davids by Donatello") is not missing."""
    given = _en_runs(said)
    asked_runs = _en_runs(question, asked=True)
    folded = _folded(said)
    for asked in asked_runs:
        if _within(asked, given) or _worded(asked, folded):
            continue
        for other in given:
            if _within(other, asked_runs):
                continue
            if (other[0] == asked[0] and other[1:] != asked[1:]) or (
                other[-1] == asked[-1] and other[:-1] != asked[:-1]
            ):
                return " ".join(asked), " ".join(other)
    return None


_OPENS_BACK = re.compile(
    r"^\W*(?:[QA]:\s*)?(?:he|she|it|they|his|her|its|their|this|these|there|then)\b", re.I
)
"""A sentence opening with what the one before names: "He stayed ...", "Its spire ..."."""


def said_of_another(
    question: str, quoted: Sequence[str], gives: Sequence[bool]
) -> tuple[str, str] | None:
    """(a name an English question asks about, the other name written instead) when another
    quoted sentence writes the name asked but every one that ``gives`` the answer type names
    only others and does not open pointing back: "how long did James Cameron stay at the
    bottom?" is not answered by "Jacques Piccard and Don Walsh ... stayed about 20 minutes"
    beside "... in 2012 James Cameron made the first solo dive"; None otherwise."""
    asked_runs = _en_runs(question, asked=True)
    giving = [q for q, g in zip(quoted, gives, strict=True) if g]
    rest = [q for q, g in zip(quoted, gives, strict=True) if not g]
    if not asked_runs or not giving or not rest:
        return None
    for asked in asked_runs:
        if not any(_names_any(asked, q) for q in rest):
            continue
        other: list[tuple[str, ...]] = []
        for q in giving:
            runs = [r for r in _en_runs(q) if not _within(r, asked_runs)]
            if _names_any(asked, q) or _OPENS_BACK.match(q) or not runs:
                break
            other.extend(runs)
        else:
            return " ".join(asked), " ".join(other[0])
    return None


def _names_any(run: tuple[str, ...], text: str) -> bool:
    """``text`` writes a word of three letters or more of the name ``run`` (a plural too)."""
    folded = _folded(text)
    return any(_word_in(w, folded) for w in run if len(w) >= 3)


def unnamed_run(question: str, texts: Sequence[str], *, every: bool = False) -> str | None:
    """A run of capitalized words ``question`` names ("Meriwether Lewis") of which none of
    ``texts`` writes a word (``every``: not every word, "Solheim Cup" beside "Ryder Cup"),
    else None: asked when he died, "Only one member died: Sergeant Charles Floyd" says it of
    another."""
    said = _folded("\n".join(texts))
    test = all if every else any
    for run in _en_runs(question, asked=True):
        if not test(re.search(rf"\b{re.escape(w)}\b", said) for w in run if len(w) >= 3):
            return " ".join(run)
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


_OPENERS = """
the a an in on at it its he she they his her their this that these those there then when while
after before since by for from with much most many some one two three as if but and so yet also
until unlike like what which who why how where to all each every no not only once because
during without within through we you our your perhaps however today later soon finally
instead meanwhile although though still even around about nearly almost over under between
among more less several few both either neither any other another such here now thus hence
therefore often usually sometimes early late first next last
"""
NOT_NAMES = frozenset(_OPENERS.split()) | frozenset(MONTHS) | frozenset(WEEKDAYS)
"""Capitalized words that name no one: words that open sentences, months and days."""
