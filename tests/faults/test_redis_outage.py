"""Redis stopped, or stalled (SIGSTOP), while real transcodes run on a real API, scheduler and
two workers (issue 10).

Redis holds only telemetry: jobs complete as if nothing happened, every process survives,
reads of a video never fail (its progress is absent while Redis is away) and fresh progress
shows again once Redis is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness.fleet import (
    Fleet,
    all_ready,
    assert_ready_once,
    components_for,
    fleet_on_own_services,
    running_jobs,
    tiny_lessons,
    wait_until,
)
from tests.faults.harness.services import RedisServer, redis_server
from tests.support.clips import make_clip
from tests.support.videos import one_package_each
from vodforge.telemetry.base import SKIP_AFTER_SLOW_FAILURE_S, SLOW_FAILURE_S
from vodforge.telemetry.redis import RedisTelemetry

OUTAGE_S = 4.0
# A read of a video makes at most one Redis call, bounded by the client's timeouts.
READ_BOUND_S = 5.0


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("redis-outage-clips")
    # The last one encodes for a few seconds: on a loaded machine a tiny clip can pass
    # through PROCESSING between two reads, and the progress check would see nothing.
    longer = make_clip(root / "longer.mp4", width=320, height=180, fps=24, duration_s=6.0)
    return [*tiny_lessons(root), longer]


@pytest.fixture
def fleet_on_redis(tmp_path: Path) -> Iterator[tuple[Fleet, RedisServer]]:
    with fleet_on_own_services(tmp_path) as (fleet, _pg, redis):
        yield fleet, redis


def progress_shows(fleet: Fleet, videos: list[str], timeout: float) -> bool:
    """True once one of `videos` is read PROCESSING with a live progress stage (from Redis)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for video_id in videos:
            body = fleet.get(f"/v1/videos/{video_id}").json()
            if body["status"] == "PROCESSING" and body["progress"]["stage"] is not None:
                return True
        time.sleep(0.02)
    return False


def upload_batch(fleet: Fleet, clips: list[Path], count: int, label: str) -> list[str]:
    return [fleet.upload(clips[n % len(clips)], f"{label} {n}") for n in range(count)]


def run_redis_fault(
    fleet: Fleet, clips: list[Path], fault: Callable[[], None], restore: Callable[[], None]
) -> None:
    components = components_for(fleet)
    try:
        # Progress is seen at all before the fault, or the check after it would prove nothing.
        assert progress_shows(fleet, upload_batch(fleet, clips[-1:], 2, "before"), 60)
        during = upload_batch(fleet, clips[:-1], 6, "during")
        wait_until(lambda: running_jobs(components, fleet.videos), 30, "a job RUNNING", 0.05)
        fault()
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            for path in ["/v1/videos", *(f"/v1/videos/{v}" for v in during)]:
                started = time.monotonic()
                response = fleet.get(path, timeout=30)
                took = time.monotonic() - started
                assert response.status_code == 200, (path, response.status_code, response.text)
                assert took < READ_BOUND_S, f"{path} took {took:.1f} s with Redis away"
        restore()
        # A stalled Redis is skipped for a few seconds after its last timeout (base.py).
        time.sleep(SKIP_AFTER_SLOW_FAILURE_S)
        assert progress_shows(fleet, upload_batch(fleet, clips[-1:], 2, "after"), 60), (
            "no fresh progress after Redis came back"
        )
        wait_until(lambda: all_ready(fleet), 120, "every video READY")
        assert fleet.dead_processes() == [], "a process did not survive Redis going away"
        recoveries = assert_ready_once(components, fleet)
        # Redis holds no job state: nothing lapsed, nothing was redone.
        assert recoveries.lease_expired == recoveries.logged == 0, recoveries
        for video_id in fleet.videos:
            (job,) = components.repo.jobs_of_video(video_id)
            assert job.attempt_count == 1, (video_id, job.attempt_count)
        wait_until(lambda: one_package_each(components, fleet.videos), 30, "one package each")
    finally:
        components.close()


def test_redis_stopped_then_started(
    fleet_on_redis: tuple[Fleet, RedisServer], clips: list[Path]
) -> None:
    fleet, redis = fleet_on_redis
    run_redis_fault(fleet, clips, redis.stop, redis.start)


def test_redis_stalled_then_resumed(
    fleet_on_redis: tuple[Fleet, RedisServer], clips: list[Path]
) -> None:
    fleet, redis = fleet_on_redis
    run_redis_fault(fleet, clips, redis.stall, redis.resume)


def test_a_stalled_redis_costs_one_timeout_not_one_per_read(tmp_path: Path) -> None:
    """Regression: every read of a stalled Redis waited for its timeout (twice, with the
    retry), so listing five running videos took ten seconds. Now one slow failure makes the
    next reads skip Redis for a while; a refused connection still does not."""
    with redis_server(tmp_path / "redis") as server:
        telemetry = RedisTelemetry.from_url(server.url)
        telemetry.record_progress("t", "v", {"percent": 5.0, "stage": "transcode"})
        server.stall()
        started = time.monotonic()
        assert telemetry.read_progress("t", "v") is None
        assert time.monotonic() - started >= SLOW_FAILURE_S  # it did wait, once
        started = time.monotonic()
        for _ in range(5):
            assert telemetry.read_progress("t", "v") is None
            telemetry.record_progress("t", "v", {"percent": 9.0, "stage": "transcode"})
        assert time.monotonic() - started < 0.5
        server.resume()
        time.sleep(SKIP_AFTER_SLOW_FAILURE_S + 0.2)
        assert telemetry.read_progress("t", "v") == pytest.approx(
            {"percent": 5.0, "stage": "transcode", "updated_at": pytest.approx(time.time(), abs=30)}
        )
        telemetry.close()
