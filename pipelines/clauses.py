"""A Korean answer to a quantity question (몇, 얼마, 언제 ...) quoted as the clause that gives
the quantity rather than its whole sentence (``number_clauses``): a Korean sentence costs
~120 tokens of the default model's tokenizer, and one of its clauses holds the number asked.
Other answers, and English ones, stay whole sentences: which clause answers a "what" or
"why" question is not told by its words (cutting them lost 2-8 answers a set)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.keywords import korean_clauses
from rag.pipelines.answer_amounts import NUMBER
from rag.pipelines.answer_types import korean_type, said_pattern, wants_quantity
from rag.pipelines.answer_units_ko import KO_NATIVE
from rag.pipelines.type_gate import blanker

KO_SPAN = re.compile(
    r"하루|이틀|사흘|나흘|닷새|엿새|열흘|보름|일주일|한두|두세|서너|며칠|몇|"
    rf"(?<![가-힣])(?:{KO_NATIVE})\s"
)
"""Korean words for a span or a count that ``NUMBER`` does not read as one: 하루, 며칠, a native
numeral before any counter (세 걸음; 한 대학 too, which only keeps a sentence whole)."""
_DIGIT = re.compile(r"\d")


def number_clauses(question: str, quoted: Sequence[str]) -> list[str | None]:
    """What to quote of each of an answer's ``quoted`` sentences, for a Korean ``question``
    asking a quantity (the kind ``said_pattern`` reads, or the unit or span ``korean_type``
    does where that is only "a number"; a number the question writes is no answer): a
    sentence with one clause of several holding the kind asked is cut to that clause, and a
    sentence holding none is left out (None) when another holds one. Kept whole: a sentence
    with two such clauses (the old fee or the new one, 61세 or 65세: their words do not tell
    which is asked) or with a quantity in words elsewhere (세 걸음, 하루 전쯤), which the kind
    check may not read; a sentence holding a span in words (하루, 며칠) is never left out."""
    if not wants_quantity(question):
        return list(quoted)
    wants = said_pattern(question)
    if wants is NUMBER:
        wants = korean_type(question) or wants
    blank = blanker(question)
    clauses = [korean_clauses(text) for text in quoted]
    kinds = [[wants.search(blank(c)) is not None for c in parts] for parts in clauses]
    if not any(map(any, kinds)):
        return list(quoted)
    cut: list[str | None] = []
    for text, parts, holds in zip(quoted, clauses, kinds, strict=True):
        if not any(holds):
            cut.append(None if not any(KO_SPAN.search(c) for c in parts) else text)
        elif (
            len(parts) == 1
            or sum(holds) > 1
            or any(_in_words(blank(c)) for c, held in zip(parts, holds, strict=True) if not held)
        ):
            cut.append(text)
        else:
            clause = parts[holds.index(True)].rstrip(" ,")
            # a clause cut before the sentence's end says so ("…끝났는데 …")
            cut.append(clause if clause.endswith((".", "!", "?")) else f"{clause} …")
    return cut


def _in_words(clause: str) -> bool:
    """``clause`` holds a quantity written in words only (세 걸음, 하루 전쯤, two days)."""
    return _DIGIT.search(clause) is None and (
        NUMBER.search(clause) is not None or KO_SPAN.search(clause) is not None
    )
