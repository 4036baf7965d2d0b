"""Keyword tokenization speed: how long BM25's tokenizer takes over a corpus, English and Korean.

A fresh ``KeywordTokenizer`` per run (its stem cache starts empty, as in a new ``rag ingest``),
``tokenize_batch`` over every record's title and text, repeated; prints the median seconds,
records and megabytes per second, terms per record, and whether the Korean analyzer (kiwi)
was loaded: an English corpus must never load it.

    .venv/bin/python bench/keywords.py                 # SciFact and evals/data/ko
    .venv/bin/python bench/keywords.py --corpus PATH --repeat 5 --json out.json

This is where the tokenizer's speed is measured (a table, not a timed test); compare runs side
by side on one machine, with its CPU flags (`lscpu`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from rag.keywords import KeywordTokenizer

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "evaldata" / "scifact" / "corpus.jsonl"
KOREAN = REPO / "evals" / "data" / "ko" / "corpus.jsonl"


def texts_of(corpus: Path) -> list[str]:
    """Each record's title and text, as ingest's keyword index sees a one-chunk document."""
    records = [json.loads(line) for line in corpus.read_text("utf-8").splitlines() if line.strip()]
    return [f"{r.get('title', '')} {r.get('text', '')}".strip() for r in records]


def measure(corpus: Path, repeat: int) -> dict[str, Any]:
    """Median wall seconds of ``repeat`` fresh tokenizations of ``corpus``, and what they gave."""
    texts = texts_of(corpus)
    size_mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    seconds: list[float] = []
    terms = 0
    kiwi = False
    for _ in range(repeat):
        tok = KeywordTokenizer()
        start = time.perf_counter()
        out = tok.tokenize_batch(texts)
        seconds.append(time.perf_counter() - start)
        terms = sum(len(t) for t in out)
        kiwi = tok.kiwi_loaded
    median = statistics.median(seconds)
    return {
        "corpus": str(corpus),
        "records": len(texts),
        "mb": round(size_mb, 2),
        "median_s": round(median, 3),
        "records_per_s": round(len(texts) / median),
        "mb_per_s": round(size_mb / median, 2),
        "terms_per_record": round(terms / max(len(texts), 1), 1),
        "kiwi_loaded": kiwi,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", help="a corpus.jsonl (repeatable)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    corpora = args.corpus or [c for c in (SCIFACT, KOREAN) if c.exists()]
    rows = [measure(c, args.repeat) for c in corpora]
    print(
        f"{'corpus':<40} {'records':>8} {'MB':>6} {'median s':>9} {'rec/s':>8} {'MB/s':>6} "
        f"{'terms/rec':>9} kiwi"
    )
    for r in rows:
        name = Path(r["corpus"]).parent.name + "/" + Path(r["corpus"]).name
        print(
            f"{name:<40} {r['records']:>8} {r['mb']:>6} {r['median_s']:>9} "
            f"{r['records_per_s']:>8} {r['mb_per_s']:>6} {r['terms_per_record']:>9} "
            f"{'yes' if r['kiwi_loaded'] else 'no'}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
