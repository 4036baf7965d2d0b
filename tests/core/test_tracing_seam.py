"""``rag.tracing`` off: no OpenTelemetry import anywhere (``import rag``, ``rag --help``, a whole
ingest and ask), one shared no-op span, and context helpers that hand back what they got;
on: enabled by the setting or the OTLP endpoint variable, with an install hint when the
``otel`` extra is missing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from rag import tracing
from rag.errors import MissingDependencyError

NO_OTEL = """
import sys, tempfile, pathlib
import rag
from rag.cli import app
from typer.testing import CliRunner
assert CliRunner().invoke(app, ["--help"]).exit_code == 0
assert not [m for m in sys.modules if m.startswith("opentelemetry")], "rag --help"
from rag.api import RAG
from rag.aio import AsyncRAG
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM
docs = pathlib.Path(tempfile.mkdtemp())
(docs / "a.md").write_text("# Marmots\\n\\nThe marmot lives in burrows.\\n")
r = RAG(store=MemoryStore("x"), embedder=FakeEmbedder(), llm=ScriptedLLM(),
        data_dir=docs / "data", answer_mode="generative")
r.ingest(docs)
r.ask("where does the marmot live?")
list(r.ask_stream("where does the marmot live?"))
r.retrieve("marmot")
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
assert not loaded, loaded
print("ok")
"""


def test_nothing_imports_opentelemetry_when_tracing_is_off() -> None:
    """``import rag``, ``rag --help`` and a RAG's ingest, ask, stream and retrieve with tracing
    off (no setting, no ``OTEL_EXPORTER_OTLP_ENDPOINT``) never import ``opentelemetry``."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RAG_TRAC"))}
    out = subprocess.run(
        [sys.executable, "-c", NO_OTEL], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.fixture
def off() -> Iterator[None]:
    tracing.disable()
    yield
    tracing.disable()


def test_off_is_one_shared_no_op(off: None) -> None:
    s = tracing.span("ask", collection="c")
    assert s is tracing.span("retrieve")
    with s as inner:
        inner.set({"a": 1}, b=2)
        inner.content("rag.question", "q")
        with inner.active():
            pass
        assert inner.child("x") is s
    s.end(RuntimeError())
    assert not tracing.enabled()
    tracing.emit("load", 0, 1, files=1)  # nothing to do

    def fn(x: int) -> int:
        return x + 1

    assert tracing.bind(fn) is fn
    with tracing.scope(True, True):  # on, but tracing is not enabled: still nothing
        assert tracing.span("ask") is s
        assert not tracing.enabled()


def test_iterate_passes_items_and_closes_the_stream(off: None) -> None:
    closed: list[bool] = []

    def stream() -> Iterator[int]:
        try:
            yield 1
            yield 2
            yield 3
        finally:
            closed.append(True)

    assert list(tracing.iterate(stream(), on=False)) == [1, 2, 3]
    it = tracing.iterate(stream(), on=False)
    assert next(it) == 1
    it.close()
    assert closed == [True, True]


def test_on_by_setting_or_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not tracing.tracing_on(False)
    assert tracing.tracing_on(True)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing.tracing_on(False)


def test_missing_extra_names_it(off: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(MissingDependencyError, match=r"rag\[otel\]"):
        tracing.enable()
    assert not tracing.enabled()


def test_settings_have_tracing_off_by_default() -> None:
    from rag.config import Settings

    s = Settings()
    assert s.tracing is False and s.trace_content is False
