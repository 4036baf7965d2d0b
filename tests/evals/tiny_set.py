"""A four-document BEIR-format set written into a temp dir, shared by the eval tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

DOCS = [
    ("d1", "Cats", "Cats are small domestic felines that purr and hunt mice at night."),
    ("d2", "Rockets", "Rockets burn fuel to produce thrust and reach orbit around the earth."),
    ("d3", "Bread", "Bread is baked from flour, water, yeast and salt in a hot oven."),
    ("d4", "Rivers", "Rivers carry fresh water from mountains down to the sea."),
]
ANSWERS: list[dict[str, object]] = [
    {"id": "q1", "answers": ["mice"]},
    {"id": "q3", "answers": ["flour, water, yeast and salt"]},
]


def write_tiny_set(
    root: Path,
    *,
    answers: Sequence[dict[str, object]] | None = ANSWERS,
    extra_queries: Sequence[tuple[str, str]] = (),
    qrels_extra: str = "",
) -> Path:
    """q1-q3 judged (q3 with grade 2), then ``extra_queries``, then q4 that nobody judged;
    ``answers`` as answers.jsonl lines (None: no answers.jsonl)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS)
    )
    queries = [
        ("q1", "what do cats hunt at night"),
        ("q2", "how do rockets reach orbit"),
        ("q3", "what is bread baked from"),
        *extra_queries,
        ("q4", "a query nobody judged"),
    ]
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in queries)
    )
    (root / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n" + qrels_extra
    )
    if answers is not None:
        (root / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return root
