"""DatabaseClock: this machine's clock plus the database server's offset, measured in the
background, never raising and never holding up a caller (SQLite: this machine's clock)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import FakeClock
from vodforge.db.clock import DatabaseClock, database_clock
from vodforge.db.engine import make_engine


class Server:
    """The database's clock, and a count of how often this machine asked it."""

    def __init__(self, truth: FakeClock) -> None:
        self.truth = truth
        self.asked = 0
        self.down = False

    def offset(self, local: FakeClock) -> float:
        self.asked += 1
        if self.down:
            raise OSError("connection refused")
        return self.truth() - local()


def read(clock: DatabaseClock) -> float:
    """Read the clock, let the measurement that read may have started finish, read again."""
    clock()
    if clock._refresher is not None:
        clock._refresher.join(5)
    return clock()


def test_reads_the_server_clock_through_the_measured_offset() -> None:
    truth = FakeClock()
    local = FakeClock(truth.now - 5.0)  # this machine is 5 s behind the database
    clock = DatabaseClock(Server(truth).offset, local=local)
    clock.start()
    assert clock.measured and clock.offset_s == pytest.approx(5.0)
    assert clock() == pytest.approx(truth())
    truth.advance(3.0)
    local.advance(3.0)
    assert clock() == pytest.approx(truth())


def test_measures_again_only_every_refresh_period() -> None:
    truth, local, monotonic = FakeClock(), FakeClock(), FakeClock(0.0)
    server = Server(truth)
    clock = DatabaseClock(server.offset, local=local, monotonic=monotonic, refresh_every_s=60)
    clock.start()
    for _ in range(10):
        monotonic.advance(5.0)
        read(clock)
    assert server.asked == 1
    truth.advance(2.0)  # the machine's clock drifted 2 s behind since the first measurement
    monotonic.advance(15.0)
    read(clock)
    assert server.asked == 2
    assert read(clock) == pytest.approx(truth())


def test_a_failed_measurement_keeps_the_last_offset_and_retries_soon() -> None:
    truth, monotonic = FakeClock(), FakeClock(0.0)
    local = FakeClock(truth.now + 5.0)
    server = Server(truth)
    clock = DatabaseClock(server.offset, local=local, monotonic=monotonic, refresh_every_s=60)
    clock.start()
    server.down = True
    monotonic.advance(61.0)
    assert read(clock) == pytest.approx(truth())  # no exception, the old offset holds
    assert server.asked == 2 and clock.offset_s == pytest.approx(-5.0)
    monotonic.advance(1.0)
    read(clock)
    assert server.asked == 2  # not hammering a database that is down
    server.down = False
    monotonic.advance(5.0)
    read(clock)
    assert server.asked == 3 and clock.offset_s == pytest.approx(-5.0)


def test_a_database_down_at_start_gives_this_machines_clock_until_it_answers() -> None:
    truth, monotonic = FakeClock(), FakeClock(0.0)
    local = FakeClock(truth.now - 4.0)
    server = Server(truth)
    server.down = True
    clock = DatabaseClock(server.offset, local=local, monotonic=monotonic)
    clock.start()
    assert not clock.measured and clock() == local()
    server.down = False
    monotonic.advance(5.0)
    assert read(clock) == pytest.approx(truth())


def test_a_hanging_measurement_never_holds_up_a_caller() -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def hangs(local: object) -> float:
        started.release()
        release.wait(10)
        return 7.0

    local = FakeClock()
    clock = DatabaseClock(hangs, local=local)
    began = time.monotonic()
    clock.start(wait_s=0.2)
    assert time.monotonic() - began < 1.0
    for _ in range(100):
        assert clock() == local()  # no offset yet, and no wait for one
    assert time.monotonic() - began < 1.0
    assert started.acquire(timeout=1)
    assert not started.acquire(timeout=0.1)  # one measurement in flight, not one per call
    release.set()
    assert read(clock) == local() + 7.0


def test_a_skew_of_a_second_or_more_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    truth, monotonic = FakeClock(), FakeClock(0.0)
    clock = DatabaseClock(
        Server(truth).offset, local=FakeClock(truth.now + 5.0), monotonic=monotonic
    )
    with caplog.at_level(logging.INFO, logger="vodforge.db.clock"):
        clock.start()
        monotonic.advance(61.0)
        read(clock)
    skews = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event")]
    assert skews == [{"event": "CLOCK_SKEW", "offset_s": -5.0, "message": skews[0]["message"]}]
    assert "database" in skews[0]["message"]


def test_ordinary_ntp_noise_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    truth = FakeClock()
    clock = DatabaseClock(Server(truth).offset, local=FakeClock(truth.now - 0.3))
    with caplog.at_level(logging.INFO, logger="vodforge.db.clock"):
        clock.start()
    assert clock.offset_s == pytest.approx(0.3)
    assert not [r for r in caplog.records if getattr(r, "fields", None)]


def test_sqlite_is_on_this_machine_so_its_clock_is_ours(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'clock.db'}")
    try:
        assert database_clock(engine) is time.time
    finally:
        engine.dispose()
