"""``bench/keywords.py`` runs end to end on a small English and Korean corpus: one row each,
and only the Korean one loads kiwi."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench" / "keywords.py"


def test_keywords_bench_prints_a_row_per_corpus(tmp_path: Path) -> None:
    out_json = tmp_path / "rows.json"
    english = REPO / "evals/data/en-tune11/corpus.jsonl"  # no record has Hangul
    korean = REPO / "evals/data/ko/corpus.jsonl"
    args = ["--corpus", str(english), "--corpus", str(korean), "--repeat", "1"]
    out = subprocess.run(
        [sys.executable, str(BENCH), *args, "--json", str(out_json)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out_json.read_text())
    assert [Path(r["corpus"]).parent.name for r in rows] == ["en-tune11", "ko"]
    assert [r["kiwi_loaded"] for r in rows] == [False, True]
    assert all(r["records"] > 10 and r["median_s"] > 0 and r["terms_per_record"] > 10 for r in rows)
    assert "records" in out.stdout.splitlines()[0]
