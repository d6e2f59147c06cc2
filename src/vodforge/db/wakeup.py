"""Wakes idle workers when a job becomes claimable, without busy polling.

In-process workers (the embedded mode) are woken by a threading signal the repository sets
after commit. On PostgreSQL the repository also sends NOTIFY inside the transaction, and a
listener thread turns notifications from other processes into the same signal. SQLite has no
NOTIFY: a watcher thread reads the file's `PRAGMA data_version` every few tens of milliseconds
(it changes whenever another connection commits) and, when it changed and a job is claimable,
raises the same signal. Workers still poll slowly as a fallback, so a lost notification only
costs one poll interval.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

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


class _WakeupThread:
    """A daemon thread that forwards another process's news of jobs to a Wakeup; `start`
    returns once it watches (or after `timeout`), `stop` ends it."""

    thread_name = "wakeup"

    def __init__(self, wakeup: Wakeup) -> None:
        self._wakeup = wakeup
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError


class PostgresListener(_WakeupThread):
    """LISTENs on the jobs channel and forwards every notification to a Wakeup."""

    thread_name = "pg-listener"

    def __init__(self, conninfo: str, wakeup: Wakeup) -> None:
        self._conninfo = conninfo
        super().__init__(wakeup)

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


class SqliteWatcher(_WakeupThread):
    """Forwards commits of other processes to an SQLite file to a Wakeup.

    `PRAGMA data_version` is answered from the file's header (or the WAL index) without a
    lock, so polling it every `interval_s` costs next to nothing. Not every commit queues a
    job (heartbeats, progress): a change wakes the workers only when a job is claimable, so an
    idle worker does not take SQLite's write lock for a claim on every heartbeat of its peers.
    """

    # The claim's own test (a partial index covers it); run_after <= now, as the claim has it.
    CLAIMABLE = (
        "SELECT 1 FROM jobs WHERE state IN ('QUEUED', 'RETRY_WAIT') AND run_after <= ? LIMIT 1"
    )

    thread_name = "sqlite-watcher"

    def __init__(self, path: str, wakeup: Wakeup, *, interval_s: float = 0.025) -> None:
        self._path = path
        self._interval_s = interval_s
        super().__init__(wakeup)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._watch()
            except sqlite3.Error as exc:
                log.warning("watching %s for new jobs failed, retrying: %s", self._path, exc)
                self._stopping.wait(1.0)

    def _watch(self) -> None:
        # Autocommit (isolation_level=None): no read transaction stays open, so every PRAGMA
        # sees the latest commit and the watcher never holds up a WAL checkpoint.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 1000")
            seen = self._data_version(conn)
            self._ready.set()
            # Jobs queued before we started would otherwise wait for a poll.
            self._wakeup.signal()
            while not self._stopping.wait(self._interval_s):
                version = self._data_version(conn)
                if version == seen:
                    continue
                seen = version
                if conn.execute(self.CLAIMABLE, (time.time(),)).fetchone() is not None:
                    self._wakeup.signal()
        finally:
            conn.close()

    @staticmethod
    def _data_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])
