"""Ingest on Ray vs the local engine: SciFact (and ``--scale N`` copies) into pgvector.

    python bench/ray_ingest.py                 # ../shared/evaldata/scifact, 1x
    python bench/ray_ingest.py --scale 10      # 10x the corpus (distinct ids)
    python bench/ray_ingest.py --limit 50      # a quick check on 50 records
    python bench/ray_ingest.py --repeat 3      # 3 rounds back to back (a shared machine)
    python bench/ray_ingest.py --local-threads 0 1   # also the local engine on 1 thread

Runs, each a fresh collection on one embedded PostgreSQL: ``--engine local`` (embedding on
every core; ``--local-threads 0 1`` adds a run on one thread, the like-for-like reference of
Ray on 1 worker CPU), then ``--engine ray`` on a local Ray of 1 and of 2 worker CPUs (Ray
started and stopped inside the timed run, as ``rag ingest --engine ray`` does). Per run: wall
time, chunks/s, CPU seconds of the run's processes (the driver and every process it started;
steadier than wall time when others share the machine), the load average as it starts, the
peak RSS of the driver and of each Ray worker (from /proc while it runs), and the commit
throughput of pgvector (chunks written per second of driver commit time, the waits for Ray
left out). Each Ray run's overhead is taken against the local run of its round, the median
over rounds printed. From the measured per-stage rates (embedding per worker CPU, commit on
the driver) it prints the projected throughput for 8 and 32 worker CPUs and names the bound.
The dataset is read in place (never copied into the repo); ``bench/peers.py`` writes the
scaled corpus to a temp dir.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from peers import DEFAULT_DATASET, write_corpus  # noqa: E402


class Watch:
    """Peak RSS (MiB) of this process and of each Ray worker it started, and the CPU seconds
    of this process and of every process it started (Ray's included; PostgreSQL left out, as
    both engines use it alike), sampled from /proc: on a shared machine, CPU seconds show the
    overhead that wall time blurs."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.driver = 0.0
        self.workers: dict[int, float] = {}
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._own_cpu = 0.0

    def __enter__(self) -> Watch:
        self._own_cpu = _own_cpu()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._own_cpu = _own_cpu() - self._own_cpu

    @property
    def cpu_s(self) -> float:
        """CPU seconds of this process during the watch and of the processes it started."""
        return self._own_cpu + sum(self._cpu.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._every)
        self._sample()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        self.driver = max(self.driver, me.memory_info().rss / 2**20)
        for proc in me.children(recursive=True):
            try:
                cmd = " ".join(proc.cmdline())
                if "postgres" in cmd:
                    continue
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
                if cmd.startswith("ray::") and (
                    "MapWorker" in cmd or "MapBatches" in cmd or "IDLE" in cmd
                ):
                    rss = proc.memory_info().rss / 2**20
                    self.workers[proc.pid] = max(self.workers.get(proc.pid, 0.0), rss)
            except psutil.Error:
                continue


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def one_run(corpus: Path, dsn: str, engine: str, cpus: int, data: Path) -> dict[str, Any]:
    from rag.api import RAG
    from rag.config import Settings

    settings = Settings(
        data_dir=data,
        store="pgvector",
        pg_dsn=dsn,
        collection=f"bench_{engine}_{cpus}_{uuid.uuid4().hex[:6]}",
        ingest_engine=engine,  # type: ignore[arg-type]
        # the local engine on ``cpus`` embedding threads (0: every core)
        embed_threads=cpus if engine == "local" and cpus else None,
    )
    r = RAG(settings)
    row: dict[str, Any] = {"engine": engine, "worker_cpus": cpus}
    row["load"] = os.getloadavg()[0]  # the machine's load as the run starts (it is shared)
    with Watch() as rss:
        started = time.perf_counter()
        if engine == "local":
            report = r.ingest(corpus)
            commit_s = float("nan")
            embed_actors = 0
        else:
            import ray

            from rag.embeddings import make_embedder
            from rag.pipelines.ingest_ray import RayIngest, RayParts

            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            try:
                worker = settings.model_copy(update={"embed_threads": 1})
                from functools import partial

                parts = RayParts(
                    embedder=partial(make_embedder, worker),
                    chunker=r.chunker,
                    keyword_tokenizer=r.keyword_tokenizer,
                    loaders=r.loaders,
                )
                run = RayIngest(r.store, parts, lambda: r.embedder).run_stats(corpus)
            finally:
                ray.shutdown()
            report, commit_s, embed_actors = run.report, run.commit_seconds, run.embed_actors
        wall = time.perf_counter() - started
    r.close()
    chunks = report.chunks_total
    row.update(
        chunks=chunks,
        seconds=wall,
        chunks_per_s=chunks / wall if wall else float("nan"),
        cpu_s=rss.cpu_s,
        driver_rss_mib=rss.driver,
        worker_rss_mib=sorted(rss.workers.values(), reverse=True)[: max(cpus, 1) + 1],
        commit_s=commit_s,
        commit_chunks_per_s=report.chunks_written / commit_s if commit_s else float("nan"),
        embed_actors=embed_actors,
    )
    return row


def warm_up(work: Path) -> None:
    """Build the embedder and embed once, untimed: on a fresh model cache the one-time ONNX
    export would otherwise land in the first timed run."""
    from rag.config import Settings
    from rag.embeddings import make_embedder

    make_embedder(Settings(data_dir=work / "warm")).embed(["warm up"], input_type="document")


def project(rows: list[dict[str, Any]]) -> list[str]:
    """Projected throughput at 8 and 32 worker CPUs from the per-stage rates measured with
    the most worker CPUs: embedding scales with CPUs, the commit (one driver) does not."""
    ray_rows = [r for r in rows if r["engine"] == "ray"]
    if not ray_rows:
        return []
    best = max(ray_rows, key=lambda r: r["worker_cpus"])
    embed_per_cpu = best["chunks_per_s"] / best["worker_cpus"]  # an upper-bound share
    commit = best["commit_chunks_per_s"]
    lines = []
    for cpus in (8, 32):
        embed = embed_per_cpu * cpus
        rate = min(embed, commit)
        bound = "embedding" if embed < commit else "store commit (driver -> pgvector)"
        lines.append(f"{cpus:>3} worker CPUs: ~{rate:,.0f} chunks/s, bound by {bound}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--scale", type=int, default=1, help="copies of the corpus")
    parser.add_argument("--limit", type=int, default=None, help="records per copy")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="Ray worker CPUs")
    parser.add_argument(
        "--local-threads",
        type=int,
        nargs="+",
        default=[0],
        help="embedding threads of the local runs (0: every core, the default engine)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of local + ray runs, back to back"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from rag.stores.pgvector_server import LocalPostgres  # rag db start's server

    rounds: list[list[dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="rag-ray-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        corpus.mkdir()
        n = write_corpus(
            args.dataset / "corpus.jsonl",
            corpus / "corpus.jsonl",
            limit=args.limit,
            copies=args.scale,
        )
        server = LocalPostgres(work / "postgres")
        dsn = server.start().dsn
        try:
            warm_up(work)
            for i in range(args.repeat):
                rows = [
                    one_run(corpus, dsn, "local", t, work / f"local{t}_{i}")
                    for t in args.local_threads
                ]
                for cpus in args.cpus:
                    rows.append(one_run(corpus, dsn, "ray", cpus, work / f"ray{cpus}_{i}"))
                rounds.append(rows)
        finally:
            server.stop()
    report(rounds, f"corpus: {args.dataset.name} x{args.scale} ({n} records) · store: pgvector")


def report(rounds: list[list[dict[str, Any]]], title: str) -> None:
    """Every run; each Ray run's overhead against the local run of its round on every core
    (wall time and CPU seconds) and, when there is one, against the local run on as many
    embedding threads as Ray had worker CPUs; the medians over rounds; the projection."""
    print(title)
    head = (
        f"{'round':>5} {'engine':<6} {'CPUs':>4} {'chunks':>7} {'seconds':>8} {'chunks/s':>9} "
        f"{'CPU s':>7} {'load':>5} {'driver MiB':>10} {'worker MiB (peak each)':<24} "
        f"{'commit ch/s':>11}"
    )
    print(head)
    print("-" * len(head))
    for i, rows in enumerate(rounds, 1):
        for r in rows:
            workers = ", ".join(f"{m:.0f}" for m in r["worker_rss_mib"]) or "-"
            cpus = r["worker_cpus"] or "all"
            print(
                f"{i:>5} {r['engine']:<6} {cpus:>4} {r['chunks']:>7} "
                f"{r['seconds']:>8.1f} {r['chunks_per_s']:>9.1f} {r['cpu_s']:>7.1f} "
                f"{r['load']:>5.1f} {r['driver_rss_mib']:>10.0f} {workers:<24} "
                f"{r['commit_chunks_per_s']:>11.0f}"
            )
    first = rounds[0]
    for k, run in enumerate(first):
        if run["engine"] != "ray":
            continue
        for threads, name in ((0, "the local engine's"), (run["worker_cpus"], "")):
            base = _local_index(first, threads)
            if base is None or (name == "" and threads == 0):
                continue
            name = name or f"the {threads}-thread local engine's"
            wall = [100 * (rows[k]["seconds"] / rows[base]["seconds"] - 1) for rows in rounds]
            cpu = [100 * (rows[k]["cpu_s"] / rows[base]["cpu_s"] - 1) for rows in rounds]
            each = ", ".join(f"{w:+.0f}%" for w in wall)
            print(
                f"ray {run['worker_cpus']} CPU(s): overhead {statistics.median(wall):+.0f}% of "
                f"{name} wall time (median; each round: {each}), "
                f"{statistics.median(cpu):+.0f}% of its CPU seconds"
            )
    for line in project(rounds[-1]):
        print(line)


def _local_index(rows: list[dict[str, Any]], threads: int) -> int | None:
    for i, r in enumerate(rows):
        if r["engine"] == "local" and r["worker_cpus"] == threads:
            return i
    return None


if __name__ == "__main__":
    main()
