"""The clock leases, backoffs and expiries are read from: the database server's.

Every lease timestamp is written and compared by some process (a worker claims and renews, the
scheduler's scanner expires), each with its own wall clock. Two machines whose clocks disagree
by a few seconds would then shorten (or stretch) every lease by their difference, and a worker
running ahead would claim a retry before its backoff ended. So every process reads one clock,
the database's: it measures once how far the server's clock is from its own and adds that.

On SQLite the database is a file on this machine, its clock is ours: no measurement at all.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, text

from vodforge.domain.clock import Clock
from vodforge.logs import Event, log_event

log = logging.getLogger(__name__)

# Given this process's clock, how many seconds the server's clock is ahead of it.
MeasureOffset = Callable[[Clock], float]

REFRESH_EVERY_S = 60.0
# A failed measurement (database down, restarting) is tried again sooner, in the background.
RETRY_AFTER_FAILURE_S = 5.0
# How long the first measurement may hold up a process's start; later ones never wait.
FIRST_WAIT_S = 2.0
# Below this the offset is ordinary NTP noise; above it an operator should know.
SKEW_WORTH_LOGGING_S = 1.0
SAMPLES = 3
SERVER_TIME = text("SELECT extract(epoch from clock_timestamp())")


class DatabaseClock:
    """time.time() plus the measured offset of the database server's clock.

    Calling it never touches the database in the caller's thread and never raises: a due
    refresh runs on a short-lived background thread, and a failed one keeps the last offset
    (the database being down is not this clock's error to report).
    """

    def __init__(
        self,
        measure_offset: MeasureOffset,
        *,
        local: Clock = time.time,
        monotonic: Clock = time.monotonic,
        refresh_every_s: float = REFRESH_EVERY_S,
        retry_after_failure_s: float = RETRY_AFTER_FAILURE_S,
    ) -> None:
        self._measure_offset = measure_offset
        self._local = local
        self._monotonic = monotonic
        self.refresh_every_s = refresh_every_s
        self.retry_after_failure_s = retry_after_failure_s
        self.offset_s = 0.0
        self.measured = False
        self._next_refresh = -math.inf
        self._lock = threading.Lock()
        self._refresher: threading.Thread | None = None

    def __call__(self) -> float:
        if self._monotonic() >= self._next_refresh:
            self._refresh_in_background()
        return self._local() + self.offset_s

    def start(self, wait_s: float = FIRST_WAIT_S) -> None:
        """Measure before the first lease is written, waiting at most `wait_s` for it."""
        thread = self._refresh_in_background()
        if thread is not None:
            thread.join(wait_s)

    def refresh(self) -> bool:
        """Measure now, in this thread; False (the last offset kept) when it failed."""
        try:
            offset = float(self._measure_offset(self._local))
        except Exception as exc:
            log.debug("measuring the database clock failed, keeping %.3f s: %s", self.offset_s, exc)
            self._next_refresh = self._monotonic() + self.retry_after_failure_s
            return False
        first = not self.measured
        self.offset_s, self.measured = offset, True
        self._next_refresh = self._monotonic() + self.refresh_every_s
        if first and abs(offset) >= SKEW_WORTH_LOGGING_S:
            log_event(
                log,
                Event.CLOCK_SKEW,
                level=logging.WARNING,
                offset_s=round(offset, 3),
                message="this machine's clock differs from the database's; "
                "leases and backoffs follow the database's clock",
            )
        return True

    def _refresh_in_background(self) -> threading.Thread | None:
        with self._lock:
            if self._refresher is not None and self._refresher.is_alive():
                return None  # one measurement in flight is enough, however long it hangs
            # Not due again until this one ends (refresh() sets the real next time).
            self._next_refresh = math.inf
            thread = threading.Thread(target=self.refresh, name="database-clock", daemon=True)
            self._refresher = thread
        thread.start()
        return thread


def postgres_offset(engine: Engine, samples: int = SAMPLES) -> MeasureOffset:
    """Reads the server's clock_timestamp() a few times over one connection and keeps the
    sample with the shortest round trip, placing the server's reading at its midpoint (so the
    error is at most half that round trip)."""

    def measure(local: Clock) -> float:
        best: tuple[float, float] | None = None
        with engine.connect() as conn:
            for _ in range(samples):
                sent = local()
                server = float(conn.execute(SERVER_TIME).scalar_one())
                received = local()
                sample = (received - sent, server - (sent + received) / 2)
                if best is None or sample[0] < best[0]:
                    best = sample
        assert best is not None
        return best[1]

    return measure


def database_clock(engine: Engine) -> Clock:
    """The clock every repository of a process shares: the server's on PostgreSQL, measured
    now (waiting a moment at most); this machine's own on SQLite."""
    if engine.dialect.name != "postgresql":
        return time.time
    clock = DatabaseClock(postgres_offset(engine))
    clock.start()
    return clock
