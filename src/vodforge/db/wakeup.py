"""Wakes idle workers when a job becomes claimable, without busy polling.

In-process workers (the embedded mode) are woken by a threading signal the repository sets
after commit. On PostgreSQL the repository also sends NOTIFY inside the transaction, and a
listener thread turns notifications from other processes into the same signal. Workers still
poll slowly as a fallback, so a lost notification only costs one poll interval.
"""

from __future__ import annotations

import logging
import threading

CHANNEL = "vodforge_jobs"
log = logging.getLogger(__name__)


class Wakeup:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    def signal(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def generation(self) -> int:
        with self._cond:
            return self._generation

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until a signal newer than `seen` arrives; True if one did."""
        with self._cond:
            return self._cond.wait_for(lambda: self._generation != seen, timeout)


class PostgresListener:
    """LISTENs on the jobs channel and forwards every notification to a Wakeup."""

    def __init__(self, conninfo: str, wakeup: Wakeup) -> None:
        self._conninfo = conninfo
        self._wakeup = wakeup
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg  # only PostgreSQL deployments pay for the import

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    # Jobs queued while we were reconnecting would otherwise wait a poll.
                    self._wakeup.signal()
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wakeup.signal()
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost, reconnecting: %s", exc)
                self._stopping.wait(1.0)
