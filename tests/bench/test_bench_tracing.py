"""``bench/tracing_overhead.py`` runs end to end on a tiny input (the lead runs it at full size
on a quiet machine): three modes, and OpenTelemetry loaded only in the ``on`` one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tracing_overhead.py"


def test_tracing_overhead_runs_on_a_tiny_input() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--docs", "6", "--queries", "3", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = {row["mode"]: row for row in json.loads(out.stdout)["rows"]}
    assert set(rows) == {"not-installed", "off", "on"}
    assert [rows[m]["opentelemetry_loaded"] for m in ("not-installed", "off", "on")] == [
        False,
        False,
        True,
    ]
    assert all(rows[m]["ask_p50_ms"] > 0 and rows[m]["retrieve_p50_ms"] > 0 for m in rows)
