"""Queued -> claimed latency of an idle worker, from the job_events history.

Jobs are queued one at a time (JobRepository.create_video_and_job, 50-100 ms apart) while
one idle worker waits; latency is the RUNNING event's `at` minus the QUEUED event's `at`
(both time.time() on this machine, in two processes). Three set-ups:

  postgresql, worker process   a real `vodforge worker`, woken by LISTEN/NOTIFY
  sqlite, worker process       a real `vodforge worker`, woken by its SQLite watcher (the
                               file's PRAGMA data_version read every 25 ms); before the
                               watcher it found jobs on its 1 s poll
  sqlite, in-process worker    a runtime.Worker thread sharing the repository's Wakeup

    .venv/bin/python -m bench.engine.dispatch_latency [--quick] [--jobs N]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select

from bench.engine.noop_work import noop_work
from bench.engine.support import (
    migrate,
    percentile,
    print_header,
    start_process,
    stop_process,
    tail,
    throwaway_database,
    vodforge_bin,
    vodforge_env,
)
from vodforge.db.engine import make_engine
from vodforge.db.tables import jobs
from vodforge.domain.retry import RetryPolicy
from vodforge.domain.states import JobState
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import TenantRepository
from vodforge.tenants.service import TenantService
from vodforge.worker.runner import ContextFactory, JobRunner
from vodforge.worker.runtime import Worker

SPACING_S = (0.05, 0.10)


class WorkerFailed(RuntimeError):
    pass


def wait_until_done(repo: JobRepository, total: int, timeout_s: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with repo.engine.connect() as conn:
            done = conn.execute(
                select(func.count()).where(jobs.c.state == JobState.SUCCEEDED.value)
            ).scalar_one()
        if done >= total:
            return
        time.sleep(0.1)
    raise WorkerFailed(
        f"only {done} of {total} jobs SUCCEEDED after {timeout_s} s"
        + (f"; worker log tail:\n{tail(log)}" if log else "")
    )


def measure(repo: JobRepository, count: int, rng: random.Random, log: Path | None) -> list[float]:
    tenant = TenantService(TenantRepository(repo.engine)).ensure("latency")
    # One warm-up job: the worker is up and connected once it has run it.
    repo.create_video_and_job(tenant.id, "warm-up", source_key="warm-up.mp4", source_bytes=1)
    wait_until_done(repo, 1, 60.0, log)
    job_ids = []
    for n in range(count):
        time.sleep(rng.uniform(*SPACING_S))
        _, job_id = repo.create_video_and_job(
            tenant.id, f"latency {n}", source_key=f"latency/{n}.mp4", source_bytes=1
        )
        job_ids.append(job_id)
    wait_until_done(repo, count + 1, 60.0, log)
    latencies = []
    for job_id in job_ids:
        events = repo.job_events(job_id)
        queued = next(e.at for e in events if e.to_state is JobState.QUEUED)
        claimed = next(e.at for e in events if e.to_state is JobState.RUNNING)
        latencies.append(claimed - queued)
    return latencies


@contextmanager
def worker_process(database_url: str, data_dir: Path) -> Iterator[Path]:
    log = data_dir / "worker.log"
    env = vodforge_env(database_url, data_dir, VODFORGE_WORK="bench.engine.noop_work:noop_work")
    proc = start_process([vodforge_bin(), "--log-level", "WARNING", "worker"], env, log)
    try:
        yield log
    finally:
        stop_process(proc)


@contextmanager
def in_process_worker(repo: JobRepository, scratch: Path) -> Iterator[None]:
    runner = JobRunner(
        repo,
        noop_work(None),
        ContextFactory(None),  # type: ignore[arg-type]  # the no-op work uses no deps
        heartbeat_s=5.0,
        lease_ttl_s=30.0,
        retry_policy=RetryPolicy(),
        scratch_root=scratch,
    )
    worker = Worker(repo, runner, concurrency=1, poll_interval_s=1.0)
    worker.start()
    try:
        yield
    finally:
        worker.request_shutdown()
        worker.join(timeout=10)


def report(label: str, latencies: list[float]) -> None:
    values = [f"{percentile(latencies, p) * 1000:7.1f}" for p in (50, 95, 99)]
    verdict = (
        "meets" if percentile(latencies, 50) < 0.1 and percentile(latencies, 99) < 1.0 else "misses"
    )
    print(
        f"{label:<34} n={len(latencies):<4} p50 {values[0]} ms  p95 {values[1]} ms  "
        f"p99 {values[2]} ms  max {max(latencies) * 1000:7.1f} ms  "
        f"({verdict} p50 < 100 ms, p99 < 1 s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 jobs per set-up")
    parser.add_argument("--jobs", type=int, default=None, help="jobs per set-up (default 200)")
    args = parser.parse_args()
    count = args.jobs or (50 if args.quick else 200)
    rng = random.Random(20261122)
    print_header(
        "dispatch latency: queued -> claimed for an idle worker",
        {
            "jobs per set-up": count,
            "spacing": f"uniform {SPACING_S[0] * 1000:.0f}-{SPACING_S[1] * 1000:.0f} ms, one at "
            "a time through JobRepository.create_video_and_job",
            "worker": "1 slot, no-op work (bench.engine.noop_work), default "
            "VODFORGE_POLL_INTERVAL_S=1",
            "latency": "RUNNING event at - QUEUED event at (job_events, time.time())",
        },
    )
    with tempfile.TemporaryDirectory(prefix="vodforge-bench-latency-") as tmp:
        root = Path(tmp)
        with throwaway_database("latency") as url:
            migrate(url)
            engine = make_engine(url)
            try:
                with worker_process(url, root / "pg") as log:
                    latencies = measure(JobRepository(engine), count, rng, log)
            finally:
                engine.dispose()
        report("postgresql, worker process (NOTIFY)", latencies)

        sqlite_url = f"sqlite:///{root / 'sqlite-a' / 'vodforge.db'}"
        engine = make_engine(sqlite_url)
        try:
            migrate(sqlite_url)
            with worker_process(sqlite_url, root / "sqlite-a") as log:
                latencies = measure(JobRepository(engine), count, rng, log)
        finally:
            engine.dispose()
        report("sqlite, worker process (data_version)", latencies)

        sqlite_url = f"sqlite:///{root / 'sqlite-b' / 'vodforge.db'}"
        engine = make_engine(sqlite_url)
        try:
            migrate(sqlite_url)
            repo = JobRepository(engine)
            with in_process_worker(repo, root / "sqlite-b" / "scratch"):
                latencies = measure(repo, count, rng, None)
        finally:
            engine.dispose()
        report("sqlite, in-process Worker (Wakeup)", latencies)


if __name__ == "__main__":
    main()
