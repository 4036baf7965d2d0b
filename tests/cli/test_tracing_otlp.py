"""``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT rag ask ...``: real ``rag ingest`` and
``rag ask`` processes (the packaged embedding model, Chroma, llama.cpp) export their spans over
OTLP/HTTP to a tiny collector on the loopback, which decodes them with the OTLP protobufs. The
question, the DSN's password and the API key are in no byte of what was sent."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PASSWORD = "pw-Loop8Q"
API_KEY = "sk-loop-1a2b3c4d5e"
QUESTION = "Whereabouts does the loopbackmarmot dig its burrow?"


class Collector(ThreadingHTTPServer):
    """Receives ``POST /v1/traces`` (OTLP/HTTP protobuf) and keeps each body."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[bytes] = []
        self.paths: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.paths.append(self.path)
        self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def spans_of(bodies: list[bytes]) -> list[tuple[str, bytes, bytes, dict[str, Any], str]]:
    """(name, span id, parent id, attributes, service name) of every span received."""
    out = []
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for rs in request.resource_spans:
            service = next(
                a.value.string_value for a in rs.resource.attributes if a.key == "service.name"
            )
            for ss in rs.scope_spans:
                for s in ss.spans:
                    values = {a.key: a.value for a in s.attributes}
                    out.append((s.name, s.span_id, s.parent_span_id, values, service))
    return out


def run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    script = Path(sys.executable).with_name("rag")
    out = subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_rag_ask_exports_its_spans_to_an_otlp_collector(
    collector: Collector, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "m.md").write_text(
        "# Loopbackmarmots\n\nThe loopbackmarmot digs its burrow in meadows.\n"
    )
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_PG_DSN": f"postgresql://alice:{PASSWORD}@db:5432/rag",
        "OPENAI_API_KEY": API_KEY,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": "rag-test",
    }
    run(["ingest", str(docs)], env, tmp_path)
    ingest = spans_of(collector.bodies)
    assert {"ingest", "plan", "load", "chunk", "embed", "commit"} <= {s[0] for s in ingest}
    collector.bodies.clear()

    run(["ask", QUESTION], env, tmp_path)
    assert collector.paths and set(collector.paths) == {"/v1/traces"}
    raw = b"".join(collector.bodies)
    for secret in (QUESTION, "loopbackmarmot", PASSWORD, API_KEY):
        assert secret.encode() not in raw
    spans = spans_of(collector.bodies)
    names = {s[0] for s in spans}
    assert {"ask", "retrieve", "dense", "keyword", "prepare", "generate"} <= names
    assert {s[4] for s in spans} == {"rag-test"}
    ids = {s[1]: s[0] for s in spans}
    parent = {s[0]: ids.get(s[2]) for s in spans}
    assert parent["ask"] is None
    assert parent["retrieve"] == parent["prepare"] == parent["generate"] == "ask"
    assert parent["dense"] == parent["keyword"] == "retrieve"
    ask = next(s[3] for s in spans if s[0] == "ask")
    assert ask["rag.collection"].string_value == "default"
    assert ask["rag.citations"].int_value >= 1 and "rag.model" in ask
