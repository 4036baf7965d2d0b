"""``--engine ray`` on two Ray nodes started on this machine (``ray start --head --num-cpus 1``
and ``ray start --address ... --num-cpus 1``: distinct ports and temp dirs), one cluster for the
module: a real ``rag ingest --engine ray`` process spreads embedding over both nodes and stores
what ``--engine local`` stores; a Ray worker killed mid-ingest is retried (or the run says so)
and a re-run gives the clean-run store; a driver killed with SIGKILL mid-commit is repaired by a
re-run.

The nodes run as ``ray start --block`` children of the test, each in its own process group, and
are stopped by those process ids (not ``ray stop``, which stops every Ray process on the
machine, other users' clusters included); any process of theirs left over is found by the
node's own temp dir in its command line and killed by id.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from ray_driver import SlowEmbedder, settings
from test_ingest_ray import RAY_ENV, assert_same, snapshot, write_mixed

from rag.api import RAG
from rag.config import Settings
from rag.server.serve import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

pytest.importorskip("ray")

HERE = Path(__file__).resolve().parent
NODE_ENV = {**RAY_ENV, "RAY_AUTH_MODE": "disabled"}
"""Ray >= 2.59 turns token auth on for a head when a token file exists (``ray.init`` writes
one) but a joining node does not send it: this throwaway loopback cluster has none."""


@dataclass
class Cluster:
    address: str
    nodes: list[subprocess.Popen[bytes]]
    temp_dirs: list[Path]

    def processes(self) -> list[psutil.Process]:
        """Every live process of this cluster (descendants of the ``ray start`` processes)."""
        found: list[psutil.Process] = []
        for node in self.nodes:
            with contextlib.suppress(psutil.NoSuchProcess):
                found += psutil.Process(node.pid).children(recursive=True)
        return found

    def embed_workers(self) -> list[psutil.Process]:
        out = []
        for proc in self.processes():
            try:
                if "EmbedStage" in " ".join(proc.cmdline()):
                    out.append(proc)
            except psutil.Error:
                pass
        return out


_HANDED_OUT: set[int] = set()


def _port() -> int:
    """A free loopback port not yet given to a node of this cluster. ``free_port`` alone can
    return the same port twice before Ray binds either (the node manager and the runtime env
    agent once both got 35859), and then ``ray start`` refuses to start."""
    while (port := free_port()) in _HANDED_OUT:
        pass
    _HANDED_OUT.add(port)
    return port


def _ray_start(args: list[str], temp: Path, log: Path) -> subprocess.Popen[bytes]:
    ports = [
        "--node-manager-port", str(_port()),
        "--object-manager-port", str(_port()),
        "--runtime-env-agent-port", str(_port()),
        "--dashboard-agent-grpc-port", str(_port()),
        "--dashboard-agent-listen-port", str(_port()),
        "--metrics-export-port", str(_port()),
    ]  # fmt: skip
    env = {**os.environ, **NODE_ENV, "PYTHONPATH": str(HERE)}
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--num-cpus", "1"]
    cmd += ["--temp-dir", str(temp), "--object-store-memory", str(100 * 1024 * 1024)]
    cmd += ["--node-ip-address", "127.0.0.1"]  # both nodes and the driver on loopback
    return subprocess.Popen(
        cmd + ports + args,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_started(proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"ray start did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(cluster: Cluster) -> None:
    """Stop the nodes by the ids of what this test started, then any leftover by id."""
    leftovers = cluster.processes()
    for node in reversed(cluster.nodes):
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
    for node in cluster.nodes:
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(10)
    marks = [str(t) for t in cluster.temp_dirs]
    for proc in leftovers:
        try:
            if proc.is_running() and any(m in " ".join(proc.cmdline()) for m in marks):
                proc.kill()
        except psutil.Error:
            pass
    for temp in cluster.temp_dirs:
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two Ray nodes of 1 CPU each on this machine; stopped at the end, even on failure."""
    logs = tmp_path_factory.mktemp("ray-logs")
    # short paths: Ray's Unix sockets live under the temp dir (108-byte limit)
    temps = [Path(tempfile.mkdtemp(prefix="rg", dir="/tmp")) for _ in range(2)]
    port = _port()
    started = Cluster(f"127.0.0.1:{port}", [], temps)
    try:
        head_args = ["--head", "--port", str(port), "--include-dashboard", "false"]
        head_args += ["--ray-client-server-port", str(_port()), "--disable-usage-stats"]
        started.nodes.append(_ray_start(head_args, temps[0], logs / "head.log"))
        _wait_started(started.nodes[0], logs / "head.log")
        started.nodes.append(
            _ray_start(["--address", started.address], temps[1], logs / "worker.log")
        )
        _wait_started(started.nodes[1], logs / "worker.log")
        yield started
    finally:
        _stop(started)


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(NODE_ENV)
    env.update(RAG_DATA_DIR=str(data), RAG_CACHE_DIR=os.environ["RAG_CACHE_DIR"])
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return env


def write_many(root: Path, files: int = 24) -> None:
    """The mixed corpus plus ``files`` small Markdown files: many parts, so many batches."""
    write_mixed(root, records=20)
    for i in range(files):
        (root / f"note{i:02d}.md").write_text(
            f"# Note {i}\n\nNote {i} says budgets hold across replicas. " * 3
        )


def test_two_nodes_both_embed_and_store_what_local_stores(cluster: Cluster, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_many(docs)
    reports = {}
    for engine in ("local", "ray"):  # local first: it also fills the model cache
        data = tmp_path / engine
        cmd = [sys.executable, "-m", "rag.cli", "ingest", str(docs), "--engine", engine, "--json"]
        if engine == "ray":
            cmd += ["--ray-address", cluster.address]
        out = subprocess.run(
            cmd, env=_env(data), capture_output=True, text=True, timeout=600, cwd=tmp_path
        )
        assert out.returncode in (0, 1), out.stderr[-3000:]  # 1: the broken PDF failed
        reports[engine] = json.loads(out.stdout)
    by_node = reports["ray"]["embedded_by_node"]
    assert len(by_node) == 2 and all(n > 0 for n in by_node.values()), by_node
    assert reports["local"]["embedded_by_node"] == {}
    for key in ("files_new", "files_failed", "chunks_total", "chunks_written"):
        assert reports["ray"][key] == reports["local"][key], key
    snaps = []
    for engine in ("local", "ray"):
        with RAG(Settings(data_dir=tmp_path / engine)) as rag:
            snaps.append(snapshot(rag.store, dimension=rag.embedder.dimension))
    assert_same(snaps[1], snaps[0])


def _driver(cluster: Cluster, data: Path, docs: Path, delay: float) -> subprocess.Popen[str]:
    code = "import ray_driver; ray_driver.main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, cluster.address, str(data), str(docs), str(delay)],
        env=_env(data),
        stdout=subprocess.PIPE,
        stderr=(data.parent / f"{data.name}.driver.log").open("a"),
        text=True,
        cwd=data.parent,
    )


def _log(data: Path) -> str:
    return (data.parent / f"{data.name}.driver.log").read_text(errors="replace")[-3000:]


def _clean(tmp_path: Path, docs: Path) -> dict[str, object]:
    with RAG(settings(tmp_path / "clean", "local", None), embedder=SlowEmbedder()) as rag:  # type: ignore[arg-type]
        rag.ingest(docs)
        return snapshot(rag.store)


def _rerun(cluster: Cluster, data: Path, docs: Path) -> dict[str, object]:
    proc = _driver(cluster, data, docs, 0.0)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, _log(data)
    report = json.loads(out.splitlines()[-1])
    assert report["files_failed"] == 1  # the broken PDF, as in the clean run
    with RAG(settings(data, "local", None), embedder=SlowEmbedder()) as rag:  # type: ignore[arg-type]
        return snapshot(rag.store)


def test_killed_worker_is_retried_and_a_rerun_gives_the_clean_store(
    cluster: Cluster, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    write_many(docs)
    data = tmp_path / "data"
    data.mkdir()
    proc = _driver(cluster, data, docs, 0.4)
    try:
        deadline = time.monotonic() + 300
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            workers = cluster.embed_workers()
            victim = workers[0] if workers else None
            time.sleep(0.2)
        assert victim is not None and proc.poll() is None, "no embedding worker mid-run"
        time.sleep(1.0)  # let it take a batch
        assert proc.poll() is None, "the run ended before the worker was killed"
        victim.kill()  # SIGKILL
        proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Ray restarts the actor and retries its batch (the run completes), or reports the loss
    err = _log(data)
    assert proc.returncode == 0 or "Ray" in err or "actor" in err.lower(), err
    assert_same(_rerun(cluster, data, docs), _clean(tmp_path, docs))


def test_killed_driver_then_rerun_equals_a_clean_run(cluster: Cluster, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_many(docs)
    data = tmp_path / "data"
    data.mkdir()
    proc = _driver(cluster, data, docs, 0.3)
    try:
        assert proc.stdout is not None
        for _ in range(3):  # a few files committed
            line = proc.stdout.readline()
            assert line.startswith("file "), (line, _log(data))
        done, total = map(int, line.split()[1].split("/"))
        assert done < total
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_same(_rerun(cluster, data, docs), _clean(tmp_path, docs))
