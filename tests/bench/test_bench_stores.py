"""``bench/stores.py`` runs end to end on a tiny corpus (the real numbers come from the lead's
quiet-machine run); here for its Qdrant column, in local mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "stores.py"


def test_qdrant_column_on_a_tiny_corpus(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client")
    out = tmp_path / "out.json"
    done = subprocess.run(
        [
            *(sys.executable, str(BENCH), "--n", "120", "--queries", "25", "--batch", "50"),
            *("--stores", "qdrant", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "qdrant" in done.stdout and "recall@10" in done.stdout
    (result,) = json.loads(out.read_text())["results"]
    assert result["store"] == "qdrant" and result["plain_recall"] == 1.0
    assert result["filtered_recall"] == 1.0 and result["write_chunks_per_s"] > 0
