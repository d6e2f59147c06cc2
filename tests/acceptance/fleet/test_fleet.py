"""The fleet shape of SPEC §5 end to end: PostgreSQL, a local S3-protocol server (moto) and Redis;
three `vodforge worker` processes and a `vodforge scheduler`; 30 real (tiny) transcodes while
workers are SIGKILLed at seeded random moments and restarted.

Every video ends READY exactly once, each kill costs exactly one extra attempt of the job it
interrupted (and nothing else does), every video keeps one published package and nothing
else, killed workers' scratch is swept, and deleting the videos leaves the bucket empty.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from sqlalchemy import Engine, select

from tests.support.cli import cli_env, cli_process
from tests.support.clips import make_clip
from tests.support.databases import REDIS_URL, require_service
from tests.support.s3server import (
    AWS_TEST_ENV,
    aws_test_env,
    moto_server,
    new_bucket_name,
    s3_client,
)
from tests.support.videos import one_package_each
from vodforge.bootstrap import Components, open_components
from vodforge.cli.videos import tenant_for_submit
from vodforge.db.access import reading
from vodforge.db.tables import jobs
from vodforge.domain.states import JobState, VideoStatus
from vodforge.settings import Settings
from vodforge.tenants.service import DEFAULT_TENANT

pytestmark = pytest.mark.slow

SEED = 20261122
VIDEOS = 30
WORKERS = 3
KILLS = 6
PREFIX = "fleet"
HEARTBEAT_S, LEASE_TTL_S, SCAN_S = 0.5, 5.0, 0.5


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with aws_test_env(), moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def redis_url() -> str:
    try:
        reachable = bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        reachable = False
    require_service(f"Redis at {REDIS_URL}", reachable)
    return REDIS_URL


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three tiny lessons (160x90, 1-2 s, with audio): one rendition each, quick to encode."""
    root = tmp_path_factory.mktemp("fleet-clips")
    return [
        make_clip(root / f"lesson-{n}.mp4", width=160, height=90, fps=24, duration_s=seconds)
        for n, seconds in enumerate((1.0, 1.5, 2.0))
    ]


class Fleet:
    """Worker processes, each the leader of its own process group; a killed one is replaced."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []  # every process ever started
        self.live: list[subprocess.Popen[bytes]] = []  # one per worker slot
        self._outs: list[IO[bytes]] = []
        self.started = 0
        self.killed: list[int] = []
        self.interrupted: Counter[str] = Counter()  # job id -> kills that caught it RUNNING

    def start(self) -> subprocess.Popen[bytes]:
        out = (self.logs / f"worker-{self.started}.log").open("wb")
        self._outs.append(out)
        self.started += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "vodforge", "worker"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        self.live.append(proc)
        return proc

    def kill_a_busy_worker(self, engine: Engine, rng: random.Random) -> None:
        """SIGKILL a random busy worker (any one when none is busy within 10 s: an idle victim
        costs no attempt, which is checked too), note the jobs it held, start a replacement."""
        live = {proc.pid for proc in self.live}
        with contextlib.suppress(AssertionError):
            wait_until(lambda: busy_pids(engine) & live, 10, "a busy worker")
        busy = sorted(busy_pids(engine) & live)
        victim_pid = rng.choice(busy) if busy else rng.choice(sorted(live))
        victim = next(proc for proc in self.live if proc.pid == victim_pid)
        # Frozen first, so the jobs it holds cannot change while they are read.
        os.killpg(victim.pid, signal.SIGSTOP)
        time.sleep(0.2)
        self.interrupted.update(jobs_held_by(engine, victim.pid))
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        self.killed.append(victim.pid)
        self.live.remove(victim)
        self.start()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for out in self._outs:
            out.close()
        self._outs.clear()


def jobs_held_by(engine: Engine, pid: int) -> list[str]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(jobs.c.id, jobs.c.leased_by).where(jobs.c.state == JobState.RUNNING.value)
        ).all()
    return [str(job_id) for job_id, holder in rows if f":{pid}:" in (holder or "")]


def busy_pids(engine: Engine) -> set[int]:
    with reading(engine) as conn:
        holders = conn.execute(
            select(jobs.c.leased_by).where(jobs.c.state == JobState.RUNNING.value)
        ).scalars()
        return {int(h.split(":")[2]) for h in holders if h and h.count(":") >= 3}


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_fleet_survives_sigkilled_workers(
    pg_url: str, redis_url: str, s3_endpoint: str, clips: list[Path], tmp_path: Path
) -> None:
    client = s3_client(s3_endpoint)
    bucket = new_bucket_name()
    client.create_bucket(Bucket=bucket)
    data_dir = tmp_path / "data"
    env = cli_env(
        pg_url,
        data_dir,
        **AWS_TEST_ENV,
        VODFORGE_STORAGE_URL=f"s3://{bucket}/{PREFIX}",
        VODFORGE_S3_ENDPOINT_URL=s3_endpoint,
        VODFORGE_REDIS_URL=redis_url,
        VODFORGE_HEARTBEAT_S=str(HEARTBEAT_S),
        VODFORGE_LEASE_TTL_S=str(LEASE_TTL_S),
        VODFORGE_SCAN_INTERVAL_S=str(SCAN_S),
        VODFORGE_MAX_ATTEMPTS="20",  # never exhausted by the kills: every video must end READY
        VODFORGE_BACKOFF_BASE_S="0.2",
        VODFORGE_BACKOFF_CAP_S="1",
        VODFORGE_SWEEP_EVERY_S="1",
        VODFORGE_SWEEP_GRACE_S="3",
    )
    components = open_components(Settings.from_env(env))
    fleet = Fleet(env, tmp_path)
    try:
        with cli_process(["scheduler"], env, tmp_path / "scheduler.log"):
            for _ in range(WORKERS):
                fleet.start()
            tenant = tenant_for_submit(components, DEFAULT_TENANT)
            videos = [
                components.videos.submit_file(clips[n % len(clips)], tenant, f"lesson {n}").id
                for n in range(VIDEOS)
            ]

            def all_ready() -> bool:
                return all(
                    components.videos_repo.get_video(v).status is VideoStatus.READY for v in videos
                )

            rng = random.Random(SEED)
            while len(fleet.killed) < KILLS and not all_ready():
                time.sleep(rng.uniform(0.2, 1.5))
                fleet.kill_a_busy_worker(components.engine, rng)

            wait_until(all_ready, 150, "every video READY")
            assert len(fleet.killed) == KILLS
            # Most kills found a job to interrupt, or the test proved little.
            assert sum(fleet.interrupted.values()) >= KILLS // 2, fleet.interrupted
            for video_id in videos:
                assert_attempts_explained_by_kills(components, video_id, fleet)
            wait_until(lambda: one_package_each(components, videos), 30, "one package each")
            # Killed workers' scratch was swept by the workers that replaced them.
            wait_until(lambda: not any((data_dir / "scratch").iterdir()), 20, "scratch swept")
        fleet.stop_all()

        for video_id in videos:
            components.videos.delete(video_id)
        assert client.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    finally:
        fleet.stop_all()
        components.close()


def assert_attempts_explained_by_kills(components: Components, video_id: str, fleet: Fleet) -> None:
    """READY exactly once, and one attempt more than 1 for each kill that caught the job."""
    (job,) = components.repo.jobs_of_video(video_id)
    events = components.repo.job_events(job.id)
    states = [e.to_state for e in events]
    assert job.state is JobState.SUCCEEDED and states.count(JobState.SUCCEEDED) == 1, states
    assert job.attempt_count == 1 + fleet.interrupted[job.id], (job.id, states)
    claims = [e for e in events if e.to_state is JobState.RUNNING]
    assert [e.attempt for e in claims] == list(range(1, job.attempt_count + 1))
    for claim in claims[:-1]:
        # Every attempt but the last was a killed worker's, and the lease scan ended it.
        assert any(f":{pid}:" in (claim.worker_id or "") for pid in fleet.killed)
        after = events[events.index(claim) + 1]
        assert (after.from_state, after.to_state) == (JobState.RUNNING, JobState.RETRY_WAIT)
