"""The SQLite call log: schema, migrations from old logs, concurrency, never failing a call."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from rag.costs.calllog import MIGRATIONS, CallLog, CallLogWarning, migrate
from rag.errors import ConfigError
from rag.types import Usage


def _usage(**kw: object) -> Usage:
    base: dict[str, object] = {
        "backend": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 20,
        "cost": Decimal("0.000027"),
        "latency_s": 0.5,
    }
    base.update(kw)
    return Usage.model_validate(base)


def test_created_with_parents_in_wal_mode_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "calls.db"
    log = CallLog(path)
    assert not path.exists(), "the file must only be created on first use"
    log.record(
        _usage(
            request_id="req_1",
            cached_input_tokens=64,
            time_to_first_token_s=0.12,
            route="fallback after rate_limit from openai:gpt-4o",
        ),
        collection="docs",
        question="what?",
    )
    assert path.is_file()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cost_type = db.execute("SELECT typeof(cost) FROM calls").fetchone()[0]
    assert cost_type == "text", "costs are stored as exact decimal text"
    [rec] = log.calls()
    assert rec.request_id == "req_1"
    assert rec.cached_input_tokens == 64
    assert rec.cost == Decimal("0.000027")
    assert rec.ttft_s == pytest.approx(0.12)
    assert rec.route == "fallback after rate_limit from openai:gpt-4o"
    assert rec.collection == "docs" and rec.question == "what?"
    assert rec.time.tzinfo is not None


def test_unknown_cost_is_null_not_zero(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.db")
    log.record(_usage(cost=None))
    with sqlite3.connect(tmp_path / "calls.db") as db:
        assert db.execute("SELECT cost FROM calls").fetchone()[0] is None
    [rec] = log.calls()
    assert rec.cost is None
    summary = log.summary()
    assert summary.total.unknown_cost_calls == 1
    assert summary.total.cost == Decimal(0)


def test_since_filters_and_summary_groups_per_day_backend_model(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.db")
    d1 = datetime(2025, 3, 1, 10, tzinfo=UTC)
    d2 = d1 + timedelta(days=1)
    log.record(_usage(cost=Decimal("0.1"), latency_s=1.0), time=d1)
    log.record(_usage(cost=Decimal("0.2"), latency_s=3.0), time=d1 + timedelta(hours=1))
    log.record(_usage(cost=Decimal("0.2"), latency_s=2.0), time=d1 + timedelta(hours=2))
    log.record(_usage(backend="anthropic", model="claude-3-5-haiku", cost=Decimal("0.3")), time=d2)
    log.record(_usage(outcome="error:timeout", cost=Decimal(0), output_tokens=0), time=d2)

    summary = log.summary()
    keys = [(r.day, r.backend, r.model, r.calls) for r in summary.rows]
    assert keys == [
        (date(2025, 3, 1), "openai", "gpt-4o-mini", 3),
        (date(2025, 3, 2), "anthropic", "claude-3-5-haiku", 1),
        (date(2025, 3, 2), "openai", "gpt-4o-mini", 1),
    ]
    first = summary.rows[0]
    assert first.cost == Decimal("0.5")  # exact, not 0.5000000001
    assert first.p50_latency_s == 2.0
    assert first.input_tokens == 300
    assert summary.rows[2].errors == 1
    assert summary.total.calls == 5
    assert summary.total.cost == Decimal("0.8")

    later = log.calls(since=d2)
    assert len(later) == 2
    assert log.spent(since=d2) == Decimal("0.3")
    # naive since = UTC
    assert len(log.calls(since=d2.replace(tzinfo=None))) == 2


def test_old_log_from_first_schema_keeps_working(tmp_path: Path) -> None:
    """A log written by the first release (only m001 applied) migrates in place."""
    path = tmp_path / "calls.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        MIGRATIONS[0](db)
        db.execute("INSERT INTO _migrations VALUES (?, ?)", (MIGRATIONS[0].__name__, "x"))
        db.execute(
            "INSERT INTO calls (time, backend, model, input_tokens, output_tokens, cost, latency_s)"
            " VALUES ('2024-12-31T23:00:00.000000+00:00', 'llamacpp', 'smollm2', 10, 5, '0', 0.3)"
        )
    log = CallLog(path)
    log.record(_usage(request_id="new"))
    old, new = log.calls()
    assert old.backend == "llamacpp" and old.cost == Decimal(0) and old.route == "primary"
    assert old.request_id is None and old.cached_input_tokens == 0
    assert new.request_id == "new"
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [fn.__name__ for fn in MIGRATIONS]


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "x.db") as db:
        migrate(db)
        migrate(db)
        assert db.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_recording_never_fails_the_call(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    log = CallLog(blocker / "calls.db")
    with pytest.warns(CallLogWarning, match="could not record"):
        log.record(_usage())


def test_garbage_file_warns_on_record_and_errors_clearly_on_read(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    path.write_bytes(b"this is not sqlite" * 100)
    log = CallLog(path)
    with pytest.warns(CallLogWarning):
        log.record(_usage())
    with pytest.raises(ConfigError, match="not a rag call log"):
        log.calls()


def _writer(path: str, n: int, tag: str) -> None:
    log = CallLog(Path(path))
    for i in range(n):
        log.record(_usage(request_id=f"{tag}-{i}"))


def test_several_processes_can_write(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), 50, f"p{k}")) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = {r.request_id for r in CallLog(path).calls()}
    assert len(ids) == 150


# --- rag costs ---


def _costs_app() -> object:
    import typer

    from rag.cli.costs import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def _seed(path: Path) -> None:
    log = CallLog(path)
    now = datetime.now(UTC)
    old = now - timedelta(days=30)
    log.record(_usage(cost=Decimal("0.001"), latency_s=1.0, cached_input_tokens=64), time=now)
    log.record(_usage(cost=Decimal("0.002"), latency_s=3.0), time=now)
    log.record(_usage(backend="openai-compatible", model="qwen", cost=None), time=now)
    log.record(_usage(model="gpt-4o", cost=Decimal("0.5")), time=old)


def test_rag_costs_table(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    path = tmp_path / "calls.db"
    _seed(path)
    result = CliRunner().invoke(_costs_app(), ["costs", "--log", str(path)])  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("gpt-4o-mini", "gpt-4o", "qwen", "total", "p50 latency", "$0.503000"):
        assert text in out, text
    assert "+ 1 unknown" in out
    assert "lower bound" in out
    assert "2.00 s" in out  # p50 of 1.0 and 3.0


def test_rag_costs_json_since(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    path = tmp_path / "calls.db"
    _seed(path)
    result = CliRunner().invoke(
        _costs_app(),  # type: ignore[arg-type]
        ["costs", "--log", str(path), "--since", "7d", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    models = sorted(r["model"] for r in data["rows"])
    assert models == ["gpt-4o-mini", "qwen"], "the 30-day-old call is outside --since 7d"
    mini = next(r for r in data["rows"] if r["model"] == "gpt-4o-mini")
    assert Decimal(mini["cost"]) == Decimal("0.003"), "costs stay exact decimals in JSON"
    assert mini["calls"] == 2 and mini["cached_input_tokens"] == 64
    assert data["total"]["unknown_cost_calls"] == 1
    assert data["since"] is not None


def test_rag_costs_bad_since_and_empty_log(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    app = _costs_app()
    bad = CliRunner().invoke(app, ["costs", "--log", str(tmp_path / "x.db"), "--since", "lately"])  # type: ignore[arg-type]
    assert bad.exit_code == 2
    assert "7d" in bad.output
    empty = CliRunner().invoke(app, ["costs", "--log", str(tmp_path / "x.db")])  # type: ignore[arg-type]
    assert empty.exit_code == 0 and "no calls logged" in empty.output


def test_rag_costs_uses_the_settings_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    _seed(tmp_path / "calls.db")
    result = CliRunner().invoke(_costs_app(), ["costs", "--json"])  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert '"calls": 4' in result.output


def test_rag_costs_chart_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    import importlib.util

    from typer.testing import CliRunner

    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed")
    path = tmp_path / "calls.db"
    _seed(path)
    result = CliRunner().invoke(
        _costs_app(),  # type: ignore[arg-type]
        ["costs", "--log", str(path), "--chart", str(tmp_path / "c.png")],
    )
    assert result.exit_code == 2
    assert "rag[charts]" in result.output
    assert not (tmp_path / "c.png").exists()


def test_rag_costs_chart_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from typer.testing import CliRunner

    path = tmp_path / "calls.db"
    _seed(path)
    png = tmp_path / "c.png"
    result = CliRunner().invoke(
        _costs_app(),  # type: ignore[arg-type]
        ["costs", "--log", str(path), "--chart", str(png)],
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
