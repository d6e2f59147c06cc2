"""PostgreSQL restarted, or down for 10 s or for longer than the lease TTL, while real
transcodes run on a real API, scheduler and two workers (issue 10).

Every process survives and reconnects; every video ends READY with one SUCCEEDED transition
and one package; leases that lapsed during the outage are recovered by the scanner and
counted (an expired lease is an attempt); the API answers 503 `UNAVAILABLE` while the
database is down (never a 500 or a dropped connection), /healthz stays 200 and /readyz says
not ready.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness.fleet import (
    LEASE_TTL_S,
    Fleet,
    Poller,
    all_ready,
    assert_ready_once,
    components_for,
    fleet_on_own_services,
    running_jobs,
    tiny_lessons,
    wait_until,
)
from tests.faults.harness.services import PgCluster
from tests.support.videos import one_package_each

VIDEOS = 6


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return tiny_lessons(tmp_path_factory.mktemp("pg-outage-clips"))


@pytest.fixture
def fleet_on_pg(tmp_path: Path) -> Iterator[tuple[Fleet, PgCluster]]:
    with fleet_on_own_services(tmp_path) as (fleet, pg, _redis):
        yield fleet, pg


def run_outage(fleet: Fleet, pg: PgCluster, clips: list[Path], outage_s: float) -> dict[str, Any]:
    """Uploads the videos, takes the database away for `outage_s` (0: a plain restart) once
    a job runs, and returns what the fault window saw."""
    components = components_for(fleet)
    try:
        for n in range(VIDEOS):
            fleet.upload(clips[n % len(clips)], f"lesson {n}")
        # Both workers busy: the outage catches jobs mid-transcode, not between them.
        running = wait_until(
            lambda: len(jobs := running_jobs(components, fleet.videos)) >= 2 and jobs,
            30,
            "two jobs RUNNING",
            every=0.02,
        )
        first = fleet.videos[0]
        poller = Poller(
            fleet, ["/v1/videos", f"/v1/videos/{first}", "/healthz", "/readyz"], every=0.2
        )
        poller.start()
        pg.stop()
        down_at = time.monotonic()
        time.sleep(outage_s)
        up_at = time.monotonic()
        pg.start()
        back_at = time.monotonic()
        components.engine.dispose()  # the test's own pool holds connections of the old server
        wait_until(lambda: all_ready(fleet), 120, "every video READY")
        time.sleep(max(0.0, back_at + 4 - time.monotonic()))  # a few answers after it is back
        poller.stop()
        assert fleet.dead_processes() == [], "a process did not survive the outage"
        recoveries = assert_ready_once(components, fleet)
        wait_until(lambda: one_package_each(components, fleet.videos), 30, "one package each")
        return {
            "running": running,
            "poller": poller,
            "down_at": down_at,
            "up_at": up_at,
            "back_at": back_at,
            "recoveries": recoveries,
        }
    finally:
        components.close()


def assert_api_unavailable_not_broken(seen: dict[str, Any]) -> None:
    """While the database is down: 503 UNAVAILABLE from the video routes, /healthz 200,
    /readyz 503. At any time: never a 500, never a dropped connection."""
    poller: Poller = seen["poller"]
    down_at, up_at, back_at = seen["down_at"], seen["up_at"], seen["back_at"]
    for at, path, status, code in poller.seen:
        assert isinstance(status, int), f"{path} at {at}: {status}"
        allowed = {(503, "NOT_READY" if path == "/readyz" else "UNAVAILABLE")}
        assert status < 500 or (status, code) in allowed, (path, status, code)
    # From a second after the stop returned: once (CI, load average above 8) a list request
    # recorded just after `pg_ctl stop` returned was answered 200; not explained, and not seen
    # again alone or in the soak's 1,463 answers during its 60 s outages.
    window = poller.between(down_at + 1.0, up_at)
    assert window or up_at - down_at < 1, "nothing was asked while the database was down"
    for sent, path, status, code in window:
        if path == "/healthz":
            assert status == 200
        else:
            expected = "UNAVAILABLE" if path.startswith("/v1") else "NOT_READY"
            when = (
                f"sent {sent - down_at:.2f} s after the stop, {up_at - sent:.2f} s before the start"
            )
            assert (status, code) == (503, expected), (path, status, code, when)
    # Back to normal once the database is: every route 200 again.
    tail = poller.between(back_at + 2, float("inf"))
    assert tail and all(status == 200 for _, _, status, _ in tail), tail[:5]


def test_postgres_restart(fleet_on_pg: tuple[Fleet, PgCluster], clips: list[Path]) -> None:
    """Regression: a worker whose job finished while the database restarted lost the
    outcome ("recording the outcome failed") and the job was redone once its lease lapsed;
    the runner now retries the write while the lease holds."""
    fleet, pg = fleet_on_pg
    seen = run_outage(fleet, pg, clips, outage_s=0)
    assert_api_unavailable_not_broken(seen)
    recoveries = seen["recoveries"]
    # A restart lasts far less than the TTL: no lease may lapse, no finished work is redone.
    assert recoveries.lease_expired == recoveries.logged == 0, recoveries


def test_postgres_down_10s(fleet_on_pg: tuple[Fleet, PgCluster], clips: list[Path]) -> None:
    fleet, pg = fleet_on_pg
    seen = run_outage(fleet, pg, clips, outage_s=10)
    assert_api_unavailable_not_broken(seen)
    recoveries = seen["recoveries"]
    # About one TTL: a lease may or may not lapse, but every lapse is counted where it shows.
    assert recoveries.lease_expired == recoveries.logged, recoveries


def outlives_the_lease(fleet: Fleet, pg: PgCluster, clips: list[Path], outage_s: float) -> None:
    seen = run_outage(fleet, pg, clips, outage_s=outage_s)
    assert_api_unavailable_not_broken(seen)
    recoveries = seen["recoveries"]
    # The jobs RUNNING when the database went away lost their leases: the scanner recovered
    # each (an expired lease counts as an attempt) and logged STUCK_RECOVERED for it.
    assert recoveries.lease_expired >= 1, (seen["running"], recoveries)
    assert recoveries.logged == recoveries.lease_expired, recoveries


def test_postgres_down_longer_than_the_lease(
    fleet_on_pg: tuple[Fleet, PgCluster], clips: list[Path]
) -> None:
    fleet, pg = fleet_on_pg
    outlives_the_lease(fleet, pg, clips, LEASE_TTL_S + 15)


@pytest.mark.slow
def test_postgres_down_60s(fleet_on_pg: tuple[Fleet, PgCluster], clips: list[Path]) -> None:
    fleet, pg = fleet_on_pg
    outlives_the_lease(fleet, pg, clips, 60)
