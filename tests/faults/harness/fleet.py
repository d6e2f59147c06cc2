"""A one-server fleet on the test's own services: `vodforge api`, `vodforge scheduler` and
two `vodforge worker` processes, real tiny transcodes uploaded through the API, and what the
fault tests check once the fault is over (every process alive, every video READY once, one
package each, the leases that lapsed recovered by the scanner)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.faults.harness.services import PgCluster, RedisServer, pg_cluster, redis_server
from tests.support.cli import cli_env, cli_process, run_json
from tests.support.clips import make_clip
from tests.support.procs import pid_alive
from tests.support.uploads import ApiProcess, api_process
from vodforge.bootstrap import Components, open_components
from vodforge.db.engine import make_engine
from vodforge.db.migrate import upgrade
from vodforge.domain.states import JobState, VideoStatus
from vodforge.settings import Settings

WORKERS = 2
HEARTBEAT_S, LEASE_TTL_S, SCAN_S = 1.0, 10.0, 1.0


def fleet_env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    return cli_env(
        database_url,
        data_dir,
        VODFORGE_REDIS_URL=redis_url,
        VODFORGE_HEARTBEAT_S=str(HEARTBEAT_S),
        VODFORGE_LEASE_TTL_S=str(LEASE_TTL_S),
        VODFORGE_SCAN_INTERVAL_S=str(SCAN_S),
        VODFORGE_POLL_INTERVAL_S="0.5",
        VODFORGE_MAX_ATTEMPTS="20",  # never exhausted by a fault: every video must end READY
        VODFORGE_BACKOFF_BASE_S="0.2",
        VODFORGE_BACKOFF_CAP_S="1",
    )


@dataclass(frozen=True)
class Alive:
    """One of the fleet's processes, by pid (a zombie counts as dead)."""

    pid: int

    def alive(self) -> bool:
        return pid_alive(self.pid)


@dataclass
class Fleet:
    env: dict[str, str]
    api: ApiProcess
    headers: dict[str, str]
    procs: dict[str, Alive]
    logs: Path
    videos: list[str] = field(default_factory=list)

    def upload(self, clip: Path, title: str) -> str:
        with clip.open("rb") as body:
            response = httpx.post(
                f"{self.api.base_url}/v1/videos",
                headers=self.headers,
                files={"file": (clip.name, body, "video/mp4")},
                data={"title": title},
                timeout=30,
            )
        assert response.status_code == 201, response.text
        video_id = str(response.json()["id"])
        self.videos.append(video_id)
        return video_id

    def get(self, path: str, timeout: float = 10) -> httpx.Response:
        return httpx.get(f"{self.api.base_url}{path}", headers=self.headers, timeout=timeout)

    def dead_processes(self) -> list[str]:
        return [name for name, proc in self.procs.items() if not proc.alive()]

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


@contextmanager
def running_fleet(database_url: str, redis_url: str, root: Path) -> Iterator[Fleet]:
    """Migrates the database, creates a tenant with the real CLI, and runs the processes."""
    engine = make_engine(database_url, null_pool=True)
    upgrade(engine)
    engine.dispose()
    env = fleet_env(database_url, redis_url, root / "data")
    key = run_json(["tenants", "create", "acme"], env)["api_key"]
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        api = stack.enter_context(api_process(env, logs / "api.log"))
        procs: dict[str, Alive] = {"api": Alive(api.pid)}
        scheduler = stack.enter_context(cli_process(["scheduler"], env, logs / "scheduler.log"))
        procs["scheduler"] = Alive(scheduler.pid)
        for n in range(WORKERS):
            name = f"worker-{n}"
            proc = stack.enter_context(cli_process(["worker"], env, logs / f"{name}.log"))
            procs[name] = Alive(proc.pid)
        yield Fleet(env, api, {"Authorization": f"Bearer {key}"}, procs, logs)


@contextmanager
def fleet_on_own_services(root: Path) -> Iterator[tuple[Fleet, PgCluster, RedisServer]]:
    """The fleet on a PostgreSQL cluster and a Redis server of the test's own, to break."""
    with (
        pg_cluster(root / "pg") as pg,
        redis_server(root / "redis") as redis,
        running_fleet(pg.url, redis.url, root) as fleet,
    ):
        yield fleet, pg, redis


def tiny_lessons(root: Path) -> list[Path]:
    """Two tiny real clips (160x90, 2 s and 3 s, with audio): quick to transcode."""
    return [
        make_clip(root / f"lesson-{n}.mp4", width=160, height=90, fps=24, duration_s=seconds)
        for n, seconds in enumerate((2.0, 3.0))
    ]


def components_for(fleet: Fleet) -> Components:
    """The test's own view of the database and storage (for checks, never for the fault)."""
    return open_components(Settings.from_env(fleet.env))


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


def running_jobs(components: Components, videos: list[str]) -> list[str]:
    return [
        job.id
        for video_id in videos
        for job in components.repo.jobs_of_video(video_id)
        if job.state is JobState.RUNNING
    ]


def statuses(fleet: Fleet) -> dict[str, str]:
    found = {}
    for video_id in fleet.videos:
        response = fleet.get(f"/v1/videos/{video_id}")
        found[video_id] = response.json()["status"] if response.status_code == 200 else "?"
    return found


def all_ready(fleet: Fleet) -> bool:
    return all(status == VideoStatus.READY.value for status in statuses(fleet).values())


class Poller(threading.Thread):
    """Polls API routes in a loop and keeps every answer (status, error code) or the
    transport error, for the test to judge what clients saw during a fault."""

    def __init__(self, fleet: Fleet, paths: list[str], every: float = 0.25) -> None:
        super().__init__(name="poller", daemon=True)
        self.fleet = fleet
        self.paths = paths
        self.every = every
        # (sent at, path, status or transport error, error code), and when each was answered.
        self.seen: list[tuple[float, str, int | str, str | None]] = []
        self.answered_at: list[float] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for path in self.paths:
                sent = time.monotonic()
                status, code = self._ask(path)
                self.seen.append((sent, path, status, code))
                self.answered_at.append(time.monotonic())
            self._halt.wait(self.every)

    def _ask(self, path: str) -> tuple[int | str, str | None]:
        try:
            response = self.fleet.get(path, timeout=15)
        except httpx.TransportError as exc:
            return f"{type(exc).__name__}: {exc}", None
        code = None
        if response.status_code >= 400:
            try:
                body = response.json()
                # /readyz answers {"ok": false, "checks": [...]}, every other route the error.
                code = "NOT_READY" if body.get("ok") is False else body["error"]["code"]
            except (ValueError, KeyError, TypeError, AttributeError):
                code = f"unexpected body: {response.text[:200]}"
        return response.status_code, code

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def between(self, start: float, end: float) -> list[tuple[float, str, int | str, str | None]]:
        """The answers to requests sent at or after `start` and answered by `end`. Answered,
        not only sent: under load a request sent just before a fault ended can be served
        after it has (a /readyz sent inside a database outage answered 200 in one CI run)."""
        return [
            seen
            for seen, answered in zip(self.seen, self.answered_at, strict=True)
            if start <= seen[0] and answered <= end
        ]


@dataclass(frozen=True)
class Recoveries:
    """The scanner's work after a fault: leases it found lapsed, and what its log counted."""

    lease_expired: int  # RUNNING -> RETRY_WAIT transitions with the reason 'lease expired'
    logged: int  # STUCK_RECOVERED lines in the scheduler's log


def assert_ready_once(components: Components, fleet: Fleet) -> Recoveries:
    """Every video READY with exactly one SUCCEEDED transition, attempts numbered 1..n, and
    every attempt but the last ended by the scanner (a lapsed lease) or by the worker (a
    failure it could record)."""
    expired = 0
    for video_id in fleet.videos:
        video = components.videos_repo.get_video(video_id)
        assert video.status is VideoStatus.READY, (video_id, video.status, video.error)
        (job,) = components.repo.jobs_of_video(video_id)
        events = components.repo.job_events(job.id)
        states = [e.to_state for e in events]
        assert job.state is JobState.SUCCEEDED and states.count(JobState.SUCCEEDED) == 1, states
        claims = [e for e in events if e.to_state is JobState.RUNNING]
        assert [e.attempt for e in claims] == list(range(1, job.attempt_count + 1)), events
        for claim in claims[:-1]:
            after = events[events.index(claim) + 1]
            assert (after.from_state, after.to_state) == (JobState.RUNNING, JobState.RETRY_WAIT)
            expired += after.reason == "lease expired"
    logged = fleet.log_text("scheduler").count('"STUCK_RECOVERED"')
    return Recoveries(lease_expired=expired, logged=logged)
