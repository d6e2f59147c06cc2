"""Redis telemetry: exact key names, JSON values, TTLs, and an outage never raising."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
import redis

from tests.conftest import FakeClock
from vodforge.telemetry import open_telemetry
from vodforge.telemetry.redis import RedisTelemetry, heartbeat_key, progress_key

PROGRESS = {"percent": 12.0, "stage": "probe", "fps": 0.0, "speed": 0.0, "eta_s": None}


def test_keys_values_and_ttls(
    redis_url: str, redis_client: redis.Redis, ids: tuple[str, str], clock: FakeClock
) -> None:
    tenant, video = ids
    telemetry = RedisTelemetry.from_url(redis_url, clock=clock)
    try:
        telemetry.record_progress(tenant, video, PROGRESS)
        telemetry.record_heartbeat(tenant, video, "job-7", "worker-b")

        progress = f"tenant:{tenant}:video:{video}:progress"
        heartbeat = f"tenant:{tenant}:video:{video}:heartbeat"
        assert (progress_key(tenant, video), heartbeat_key(tenant, video)) == (progress, heartbeat)
        assert json.loads(str(redis_client.get(progress))) == {**PROGRESS, "updated_at": clock.now}
        assert json.loads(str(redis_client.get(heartbeat))) == {
            "job_id": "job-7",
            "worker_id": "worker-b",
            "at": clock.now,
        }
        assert 3590 < redis_client.ttl(progress) <= 3600
        assert 50 < redis_client.ttl(heartbeat) <= 60

        telemetry.clear(tenant, video)
        assert redis_client.exists(progress, heartbeat) == 0
    finally:
        redis_client.delete(progress_key(tenant, video), heartbeat_key(tenant, video))
        telemetry.close()


def test_redis_expiry_is_what_has_heartbeat_reads(
    redis_url: str, redis_client: redis.Redis, ids: tuple[str, str]
) -> None:
    tenant, video = ids
    telemetry = RedisTelemetry.from_url(redis_url)
    try:
        telemetry.record_heartbeat(tenant, video, "job-7", "worker-b")
        assert telemetry.has_heartbeat(tenant, video)
        redis_client.pexpire(heartbeat_key(tenant, video), 1)  # as if 60 s had passed
        time.sleep(0.05)
        assert not telemetry.has_heartbeat(tenant, video)
    finally:
        telemetry.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_outage_never_raises_into_the_job(
    ids: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    tenant, video = ids
    telemetry = RedisTelemetry.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="vodforge.telemetry"):
        telemetry.record_progress(tenant, video, PROGRESS)
        telemetry.record_progress(tenant, video, PROGRESS)
        telemetry.record_heartbeat(tenant, video, "job-7", "worker-b")
        assert telemetry.read_progress(tenant, video) is None
        assert not telemetry.has_heartbeat(tenant, video)
        telemetry.clear(tenant, video)
    assert time.monotonic() - started < 5

    failures = [r for r in caplog.records if getattr(r, "event", None) == "TELEMETRY_FAILED"]
    # One warning per operation, not one per progress tick.
    assert sorted(getattr(r, "operation", "") for r in failures) == [
        "clear",
        "has_heartbeat",
        "read_progress",
        "record_heartbeat",
        "record_progress",
    ]
    assert all(r.levelno == logging.WARNING for r in failures)
    # A health check, unlike a job's write, does report the outage.
    with pytest.raises(redis.ConnectionError):
        telemetry.check()
    telemetry.close()


def test_open_telemetry_prefers_redis(redis_url: str) -> None:
    telemetry = open_telemetry(redis_url, None)
    assert isinstance(telemetry, RedisTelemetry)
    telemetry.close()


def test_a_corrupt_value_reads_as_no_progress(
    redis_url: str, redis_client: redis.Redis, ids: tuple[str, str]
) -> None:
    tenant, video = ids
    telemetry = RedisTelemetry.from_url(redis_url)
    try:
        redis_client.set(progress_key(tenant, video), "{not json", ex=60)
        assert telemetry.read_progress(tenant, video) is None
    finally:
        redis_client.delete(progress_key(tenant, video))
        telemetry.close()
