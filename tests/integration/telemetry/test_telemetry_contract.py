"""What every Telemetry backend does alike: memory, Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import FakeClock
from vodforge.telemetry.base import Telemetry

PROGRESS = {"percent": 42.5, "stage": "transcode", "fps": 96.0, "speed": 3.2, "eta_s": 31.0}


def test_progress_round_trip(telemetry: Telemetry, ids: tuple[str, str], clock: FakeClock) -> None:
    tenant, video = ids
    assert telemetry.read_progress(tenant, video) is None
    telemetry.record_progress(tenant, video, PROGRESS)
    assert telemetry.read_progress(tenant, video) == {**PROGRESS, "updated_at": clock.now}


def test_latest_progress_wins(telemetry: Telemetry, ids: tuple[str, str], clock: FakeClock) -> None:
    tenant, video = ids
    telemetry.record_progress(tenant, video, {**PROGRESS, "percent": 10.0})
    clock.advance(2)
    telemetry.record_progress(tenant, video, {"percent": 100.0, "stage": "upload"})
    assert telemetry.read_progress(tenant, video) == {
        "percent": 100.0,
        "stage": "upload",
        "updated_at": clock.now,
    }


def test_given_updated_at_is_kept(telemetry: Telemetry, ids: tuple[str, str]) -> None:
    tenant, video = ids
    telemetry.record_progress(tenant, video, {**PROGRESS, "updated_at": 1234.5})
    progress = telemetry.read_progress(tenant, video)
    assert progress is not None and progress["updated_at"] == 1234.5


def test_progress_is_scoped_to_the_tenant(telemetry: Telemetry, ids: tuple[str, str]) -> None:
    tenant, video = ids
    telemetry.record_progress(tenant, video, PROGRESS)
    other_tenant = str(uuid.uuid4())
    assert telemetry.read_progress(other_tenant, video) is None
    assert not telemetry.has_heartbeat(other_tenant, video)
    telemetry.clear(other_tenant, video)
    assert telemetry.read_progress(tenant, video) is not None


def test_heartbeat(telemetry: Telemetry, ids: tuple[str, str]) -> None:
    tenant, video = ids
    assert not telemetry.has_heartbeat(tenant, video)
    telemetry.record_heartbeat(tenant, video, "job-1", "worker-a")
    assert telemetry.has_heartbeat(tenant, video)
    # A heartbeat is not progress.
    assert telemetry.read_progress(tenant, video) is None


def test_heartbeat_and_progress_do_not_overwrite_each_other(
    telemetry: Telemetry, ids: tuple[str, str], clock: FakeClock
) -> None:
    tenant, video = ids
    telemetry.record_heartbeat(tenant, video, "job-1", "worker-a")
    telemetry.record_progress(tenant, video, PROGRESS)
    telemetry.record_heartbeat(tenant, video, "job-1", "worker-a")
    assert telemetry.has_heartbeat(tenant, video)
    assert telemetry.read_progress(tenant, video) == {**PROGRESS, "updated_at": clock.now}


def test_clear_forgets_progress_and_heartbeat(telemetry: Telemetry, ids: tuple[str, str]) -> None:
    tenant, video = ids
    telemetry.record_progress(tenant, video, PROGRESS)
    telemetry.record_heartbeat(tenant, video, "job-1", "worker-a")
    telemetry.clear(tenant, video)
    assert telemetry.read_progress(tenant, video) is None
    assert not telemetry.has_heartbeat(tenant, video)


@pytest.mark.parametrize(
    "progress",
    [
        {"percent": 1.0},
        {"percent": 1.0, "stage": "encode"},
        {"percent": object(), "stage": "transcode"},
    ],
)
def test_malformed_progress_is_a_caller_bug(
    telemetry: Telemetry, ids: tuple[str, str], progress: dict[str, object]
) -> None:
    tenant, video = ids
    with pytest.raises((ValueError, TypeError)):
        telemetry.record_progress(tenant, video, progress)
    assert telemetry.read_progress(tenant, video) is None


def test_non_finite_numbers_are_stored_as_null(
    telemetry: Telemetry, ids: tuple[str, str], clock: FakeClock
) -> None:
    tenant, video = ids
    telemetry.record_progress(
        tenant,
        video,
        {"percent": 3.0, "stage": "transcode", "speed": float("nan"), "eta_s": float("inf")},
    )
    assert telemetry.read_progress(tenant, video) == {
        "percent": 3.0,
        "stage": "transcode",
        "speed": None,
        "eta_s": None,
        "updated_at": clock.now,
    }


def test_entries_expire_by_their_ttls(
    clocked_telemetry: Telemetry, ids: tuple[str, str], clock: FakeClock
) -> None:
    # Redis expires keys on its own clock: test_telemetry_redis checks its TTLs instead.
    telemetry = clocked_telemetry
    tenant, video = ids
    telemetry.record_progress(tenant, video, PROGRESS)
    telemetry.record_heartbeat(tenant, video, "job-1", "worker-a")
    clock.advance(59)
    assert telemetry.has_heartbeat(tenant, video)
    clock.advance(2)
    assert not telemetry.has_heartbeat(tenant, video)
    assert telemetry.read_progress(tenant, video) is not None
    clock.advance(3600 - 61 + 1)
    assert telemetry.read_progress(tenant, video) is None


def test_check_passes_on_a_reachable_backend(telemetry: Telemetry) -> None:
    telemetry.check()
