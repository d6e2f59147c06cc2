"""The fault rig: a PostgreSQL cluster, a Redis server and an S3-protocol server (behind the
storage fault proxy) of the run's own, a small tmpfs as the workers' scratch, and the real
vodforge processes on them (one API, one scheduler, three workers, one of them with its clock
5 s ahead), under a steady API load. `episode()` submits work, injects one fault while it runs,
waits for every video to end and returns the fault's row."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import Engine, select

from tests.faults.harness import ledger
from tests.faults.harness.faults import Fault, Injection
from tests.faults.harness.loadgen import LoadGenerator, LoadStats
from tests.faults.harness.packages import verify_package
from tests.faults.harness.processes import Deployment, Managed
from tests.faults.harness.s3faults import StorageFaultProxy, storage_fault_proxy
from tests.faults.harness.services import PgCluster, RedisServer, pg_cluster, redis_server
from tests.support.cli import cli_env, run_cli
from tests.support.clips import make_clip
from tests.support.databases import require_service
from tests.support.s3server import AWS_TEST_ENV, aws_test_env, moto_server, s3_client
from vodforge.db.access import reading
from vodforge.db.engine import make_engine
from vodforge.db.tables import jobs, videos

T = TypeVar("T")
HEARTBEAT_S, LEASE_TTL_S, SCAN_S = 1.0, 10.0, 1.0
SCRATCH_BYTES = 192 << 20
SETTLE_S = 240.0  # every video of an episode ends within this, or it counts as lost


@dataclass
class Row:
    fault: Fault
    injection: Injection
    jobs: int
    outcome: ledger.Outcome
    package_problems: list[str]
    recovery_s: float | None
    load: LoadStats
    deaths: list[str]
    scratch_left: int  # job directories still in scratch once the episode settled
    api_failures: list[str]  # the load generator's failed requests in the fault's window


@contextmanager
def scratch_tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted at `path` (the tier runs as root, as CI does)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    require_service(f"a tmpfs for scratch ({mounted.stderr.strip()})", mounted.returncode == 0)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class Rig:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.lease_ttl_s = LEASE_TTL_S
        self.control = root / "control"
        self.control.mkdir()
        self._load_cursor = 0  # load-generator uploads already counted by an episode
        self._stack = ExitStack()

    # --- set-up ---------------------------------------------------------------------------

    def __enter__(self) -> Rig:
        stack = self._stack
        pg_root = Path(tempfile.mkdtemp(prefix="vodforge-faults-pg-"))
        stack.callback(shutil.rmtree, pg_root, ignore_errors=True)
        self.pg: PgCluster = stack.enter_context(pg_cluster(pg_root))
        self.redis: RedisServer = stack.enter_context(redis_server(self.root / "redis"))
        stack.enter_context(aws_test_env())
        moto = stack.enter_context(moto_server())
        self.proxy: StorageFaultProxy = stack.enter_context(storage_fault_proxy(moto))
        self.s3 = s3_client(moto)
        self.bucket = "vodforge-faults"
        self.s3.create_bucket(Bucket=self.bucket)
        data_dir = self.root / "data"
        self.scratch = stack.enter_context(scratch_tmpfs(data_dir / "scratch", SCRATCH_BYTES))
        self.env = cli_env(
            self.pg.url,
            data_dir,
            **AWS_TEST_ENV,
            VODFORGE_STORAGE_URL=f"s3://{self.bucket}/faults",
            VODFORGE_S3_ENDPOINT_URL=self.proxy.url,
            VODFORGE_REDIS_URL=self.redis.url,
            VODFORGE_HEARTBEAT_S=str(HEARTBEAT_S),
            VODFORGE_LEASE_TTL_S=str(LEASE_TTL_S),
            VODFORGE_SCAN_INTERVAL_S=str(SCAN_S),
            VODFORGE_MAX_ATTEMPTS="10",
            VODFORGE_BACKOFF_BASE_S="0.5",
            VODFORGE_BACKOFF_CAP_S="4",
            VODFORGE_SWEEP_EVERY_S="2",
            VODFORGE_SWEEP_GRACE_S="5",
            VODFORGE_CHUNK_SECONDS="4",
            VODFORGE_CHUNK_MIN_DURATION_S="8",
            VODFORGE_FFMPEG_THREADS="1",
            VODFORGE_WORK="tests.faults.harness.stage_work:stage_work",
            VODFORGE_FAULT_CONTROL=str(self.control),
        )
        upgraded = run_cli(["db", "upgrade"], self.env, timeout=120)
        assert upgraded.returncode == 0, upgraded.stderr
        created = run_cli(["tenants", "create", "faults", "--json"], self.env)
        assert created.returncode == 0, created.stderr
        self.headers = {"Authorization": f"Bearer {json.loads(created.stdout)['api_key']}"}
        clips = self.root / "clips"
        clips.mkdir()
        self.short_clip = make_clip(
            clips / "short.mp4", width=160, height=90, fps=24, duration_s=3.0
        )
        self.long_clip = make_clip(
            clips / "long.mp4", width=160, height=90, fps=24, duration_s=13.0
        )
        self.engine: Engine = make_engine(self.pg.url, null_pool=True)
        stack.callback(self.engine.dispose)
        logs = self.root / "logs"
        logs.mkdir()
        self.deployment = Deployment(self.env, logs, workers=0)
        stack.callback(self.deployment.stop)
        self.deployment.start()
        for n in range(3):
            # One worker's clock runs 5 s ahead of the database's for the whole run (shifted
            # in Python: libfaketime hangs Python's timed waits; see tests/support/skewed_cli).
            skewed = [sys.executable, "-m", "tests.support.skewed_cli", "5"]
            self.deployment.spawn("worker", ["worker"], launcher=skewed if n == 0 else None)
        self.load = LoadGenerator(self.deployment.api_url, self.headers, self.short_clip)
        self.load.start()
        stack.callback(self.load.stop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # --- waiting --------------------------------------------------------------------------

    def wait_for(self, probe: Callable[[], T], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the database may be the thing that is down
                found = probe()
                if found:
                    return found
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout} s; logs in {self.root / 'logs'}")

    def wait_running(self) -> None:
        def running() -> bool:
            with reading(self.engine) as conn:
                return (
                    conn.execute(
                        select(jobs.c.id)
                        .where(jobs.c.state == "RUNNING")
                        .where(jobs.c.lease_token.is_not(None))
                        .limit(1)
                    ).first()
                    is not None
                )

        self.wait_for(running, 60, "a running job")

    def pause_at(self, stage: str, timeout: float = 90) -> Managed | None:
        """Ask the next worker that reaches `stage` to stop there; return that worker."""
        request = self.control / f"pause-{stage}"
        request.touch()

        def paused() -> Managed | None:
            for marker in self.control.glob(f"paused-{stage}-*"):
                pid = int(marker.name.rsplit("-", 1)[1])
                for managed in self.deployment.live("worker"):
                    if managed.proc.pid == pid:
                        return managed
            return None

        try:
            return self.wait_for(paused, timeout, f"a worker in {stage}")
        except AssertionError:
            request.unlink(missing_ok=True)
            return None

    # --- an episode -----------------------------------------------------------------------

    def submit(self, clip: Path, title: str) -> str:
        with httpx.Client(base_url=self.deployment.api_url, headers=self.headers) as client:
            for _ in range(60):  # a previous fault's effects may linger for a moment
                with contextlib.suppress(httpx.HTTPError):
                    response = client.post(
                        "/v1/videos",
                        files={"file": (clip.name, clip.read_bytes(), "video/mp4")},
                        data={"title": title},
                        timeout=30,
                    )
                    if response.status_code == 201:
                        return str(response.json()["id"])
                time.sleep(1)
        raise AssertionError(f"could not submit {title}")

    def episode(self, fault: Fault, videos_per_episode: int = 3) -> Row:
        started = time.time()
        injection = Injection(fault.name)
        ids = [self.submit(self.short_clip, f"{fault.name} {n}") for n in range(videos_per_episode)]
        if fault.chunked:
            ids.append(self.submit(self.long_clip, f"{fault.name} long"))
        fault.inject(self, injection)
        injection.ended = time.time()
        if not injection.started:
            injection.started = injection.ended
        # Videos the load generator uploaded since the last episode are this one's jobs too.
        ids += self.load.uploaded[self._load_cursor :]
        self._load_cursor += len(ids) - videos_per_episode - fault.chunked
        with contextlib.suppress(AssertionError):
            self.wait_for(lambda: ledger.all_terminal(self.engine, ids), SETTLE_S, "settled")
        outcome = ledger.outcome(self.engine, ids, since=started)
        # A job removes its scratch directory when it ends; a killed worker's is swept by
        # the next worker to start.
        with contextlib.suppress(AssertionError):
            self.wait_for(lambda: not self.scratch_entries(), 30, "scratch cleaned")
        resumed = ledger.first_event_after(self.engine, injection.ended)
        return Row(
            fault=fault,
            injection=injection,
            jobs=len(set(ids)),
            outcome=outcome,
            package_problems=self.check_packages(ids),
            recovery_s=None if resumed is None else max(0.0, resumed - injection.ended),
            load=self.load.stats(injection.started, injection.ended + 5),
            deaths=self.deployment.deaths(),
            scratch_left=len(self.scratch_entries()),
            api_failures=[
                f"{s.kind} -> {s.status or s.error} after {s.latency_s:.1f} s"
                for s in self.load.failures(injection.started, injection.ended + 5)
                if s.status != 503
            ],
        )

    def scratch_entries(self) -> list[Path]:
        """Scratch directories of attempts that are no longer running (the load generator's
        uploads keep jobs running at any moment: theirs are in use, not left behind)."""
        with reading(self.engine) as conn:
            running = {
                f"{job_id}-{attempt}"
                for job_id, attempt in conn.execute(
                    select(jobs.c.id, jobs.c.attempt_count).where(jobs.c.state == "RUNNING")
                )
            }
        return [p for p in self.scratch.iterdir() if p.name not in running]

    def check_packages(self, ids: list[str]) -> list[str]:
        problems = []
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(videos.c.id, videos.c.package)
                .where(videos.c.id.in_(ids))
                .where(videos.c.status == "READY")
            ).all()
        for video_id, package in rows:
            found = verify_package(self.s3, self.bucket, json.loads(package), "faults")
            problems += [f"{video_id}: {p}" for p in found]
        return problems
