"""The embedder's say in an extractive answer: how close each statement comes to the question.

``statement_meaning`` embeds the question once and each statement twice: alone (the
abstention gate's closeness: the floor was chosen on it) and under its section's heading,
which says what a detail sentence is about ("The bacteria outnumber the yeasts ..." under
"Sourdough starters"); ranking takes the closer of the two. A table row also means what its
first cell names, and a row the question names, for the gate, what each of its cells says
under its column. ``calibrated_floor`` gives the floor for the embedders it was chosen on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rag.embeddings import covers
from rag.pipelines.extractive_rules import row_key
from rag.pipelines.statements import row_cells

COSINE_FLOORS = {"all_minilm_l6_v2": 0.45}
"""Models whose cosine scale the meaning floor was chosen on (normalized name -> floor): a
cosine means different things to different embedders, so others get no floor."""


def question_cosines(
    embedder: Any, languages: Any, question: str, texts: Sequence[str], lang: str
) -> list[float] | None:
    """Each of ``texts``' cosine to ``question`` by ``embedder`` (covering ``languages``);
    None without an embedder or in a language it does not cover."""
    if embedder is None or not covers(languages, lang):
        return None
    q = embedder.embed([question], input_type="query")
    s = embedder.embed(list(texts), input_type="document")
    return [float(x) for x in (s @ q[0])]


def calibrated_floor(embedder: Any) -> float:
    """The meaning floor for ``embedder``: its model's entry in ``COSINE_FLOORS``, else 0."""
    if embedder is None:
        return 0.0
    name = re.sub(r"[^a-z0-9]+", "_", str(getattr(embedder, "name", "")).lower())
    return next((floor for model, floor in COSINE_FLOORS.items() if model in name), 0.0)


@dataclass(frozen=True)
class Meaning:
    """Each statement's cosine to the question, in statement order."""

    cosines: list[float]
    """Alone, or as its row key or (a row the question names) one of its cells under its column
    if closer: what the gate and the companions read (a statement not embedded counts as at
    the floor)."""
    ranked: list[float]
    """The closer of ``cosines`` and the statement read under its heading: what ranking reads."""
    closeness: float
    """The best embedded statement's cosine alone."""


Cosines = Callable[[Sequence[str]], list[float] | None]
"""Embeds texts and gives each one's cosine to the question (None: no meaning signal)."""


def statement_meaning(
    cosines_of: Cosines,
    texts: Sequence[str],
    read: Sequence[int],
    heads: Sequence[str],
    floor: float,
    tables: Sequence[str],
    question: str,
) -> Meaning | None:
    """The cosines of the statements ``texts`` numbered in ``read`` (the others are in a
    language the embedder does not cover), each also read under ``heads[k]``, its section's
    title; a table row (``tables[k]``: its table's header) that ``question`` names also cell
    by cell, for the gate only. None when nothing is read or the embedder gives no signal.
    One embedding call."""
    if not read:
        return None
    keyed = [(k, key) for k in read if (key := row_key(texts[k]))]
    headed = [_under(heads[k], texts[k]) for k in read]
    cells = [(k, cell) for k in read for cell in cell_readings(texts[k], tables[k], question)]
    embedded = cosines_of(
        [
            *(texts[k] for k in read),
            *(key for _, key in keyed),
            *(h for h in headed if h is not None),
            *(cell for _, cell in cells),
        ]
    )
    if embedded is None:
        return None
    cosines = [floor] * len(texts)
    for j, k in enumerate(read):
        cosines[k] = embedded[j]
    for j, (k, _) in enumerate(keyed):  # a table row means what its first cell names
        cosines[k] = max(cosines[k], embedded[len(read) + j])
    ranked = list(cosines)
    at = len(read) + len(keyed)
    for k, h in zip(read, headed, strict=True):
        if h is not None:
            ranked[k] = max(ranked[k], embedded[at])
            at += 1
    # what a named row says in one column ("diff: exit on error 1") tells the gate that the
    # sources answer; ranking keeps the row's own reading (a config line giving the default
    # still comes before the row of a table about the same thing)
    for j, (k, _) in enumerate(cells, start=at):
        cosines[k] = max(cosines[k], embedded[j])
    closeness = max(cosines[k] for k in read)
    return Meaning(cosines, ranked, closeness)


def cell_readings(text: str, header: str, question: str) -> list[str]:
    """A row of the table headed ``header`` (a CSV line, a pipe table's header) that
    ``question`` names by its first cell, read cell by cell under its column names:
    ``diff,...,1`` under ``command,...,exit_on_error`` reads "diff: exit on error 1". A whole
    row embeds far from a question about one of its cells (0.42 for "what exit code does diff
    give when something goes wrong?"), the cell read under its column close (0.81). A row the
    question does not name is not read so: "Python: package switchwren" came close to "When
    was switchwren 3.2.0 released?". [] when ``text`` is not such a row."""
    names, cells = row_cells(header), row_cells(text)
    key = cells[0].strip("`* ") if cells else ""  # a pipe table's `ramp` or **ramp** is ramp
    if len(names) < 3 or len(cells) != len(names) or cells == names or not key:
        return []
    if re.search(rf"(?<!\w){re.escape(key)}(?!\w)", question, re.IGNORECASE) is None:
        return []
    return [
        f"{key}: {name.replace('_', ' ')} {cell}"
        for name, cell in zip(names[1:], cells[1:], strict=True)
        if cell and name
    ]


def _under(title: str, text: str) -> str | None:
    """``text`` read under the last heading of its section's ``title`` ("Schedules: ..."),
    None without one."""
    head = title.split(" > ")[-1].strip()
    return f"{head}: {text}" if head else None
