"""`vodforge scheduler`: periodic maintenance, with one acting instance at a time.

Each tick expires stale leases (counted attempts), dispatches due jobs (new, RETRY_WAIT whose
backoff ended, failed dispatches after theirs), asks the executor to terminate runs that ignored
a cancel, reports dispatches that never started, and now and then reconciles (and decides
again for chunked videos' waiting families). On PostgreSQL an
advisory lock elects the acting scheduler; on SQLite a file lock.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.records import ExpiredLease
from vodforge.jobs.repository import JobRepository
from vodforge.logs import Event, log_event
from vodforge.operations.reconcile import Fix, apply_fix, plan_reconcile

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x7F0D_F0E6  # any fixed 64-bit number, the same for every scheduler


@dataclass
class TickReport:
    expired: list[ExpiredLease] = field(default_factory=list)
    dispatched: list[str] = field(default_factory=list)
    dispatch_failures: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    reconciled: list[Fix] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "expired": [{"job_id": e.job_id, "state": e.state.value} for e in self.expired],
            "dispatched": self.dispatched,
            "dispatch_failures": self.dispatch_failures,
            "stalled": self.stalled,
            "reconciled": [fix.to_json() for fix in self.reconciled],
            "purged": self.purged,
            "terminated": self.terminated,
        }


class Scheduler:
    def __init__(
        self,
        repo: JobRepository,
        dispatcher: Dispatcher,
        *,
        scanner_id: str,
        stall_after_s: float = 600.0,
        reconcile_every: int = 12,
        housekeeping: Callable[[], list[str]] | None = None,
        cancel_grace_s: float | None = None,
    ) -> None:
        self.repo = repo
        self.dispatcher = dispatcher
        self.executor = dispatcher.executor
        # Finishing deletes and dropping abandoned uploads: the video service's pass.
        self.housekeeping = housekeeping
        self.scanner_id = scanner_id
        self.stall_after_s = stall_after_s
        self.reconcile_every = reconcile_every
        # A worker acts on a cancel at its next heartbeat; one still RUNNING after two lease
        # lifetimes is not going to, so its executor run is terminated from outside.
        self.cancel_grace_s = cancel_grace_s if cancel_grace_s is not None else 2 * repo.lease_ttl_s
        # executor_ref -> when terminate was last asked: once per grace period, not per tick.
        self._terminate_asked: dict[str, float] = {}
        self.ticks = 0

    def expire_stale_leases(self) -> list[ExpiredLease]:
        expired = self.repo.expire_stale_leases(self.scanner_id)
        for lease in expired:
            log_event(
                log,
                Event.STUCK_RECOVERED,
                level=logging.WARNING,
                job_id=lease.job_id,
                video_id=lease.video_id,
                state=lease.state.value,
                attempt=lease.attempt_count,
                max_attempts=lease.max_attempts,
            )
        return expired

    def dispatch_due(self, report: TickReport) -> None:
        dispatched, failed = self.dispatcher.dispatch_due()
        report.dispatched.extend(dispatched)
        report.dispatch_failures.extend(failed)

    def terminate_overdue_cancels(self, report: TickReport) -> None:
        """Cancelled RUNNING jobs whose worker did not stop: terminate their executor run.
        Job state is untouched: the run's SIGTERM gives the lease back (CANCELLED), or the
        lease expires and the scanner ends the job."""
        if not self.executor.tracks_dispatch:
            return  # local workers are stopped by their heartbeat, nothing to terminate
        now = self.repo.clock()
        self._terminate_asked = {
            ref: at for ref, at in self._terminate_asked.items() if now - at < self.cancel_grace_s
        }
        for job in self.dispatcher.overdue_cancels(self.cancel_grace_s):
            ref = job.executor_ref
            if ref is None or ref in self._terminate_asked:
                continue
            reason = (
                f"vodforge: job {job.id} was cancelled {now - job.updated_at:.0f} s ago "
                "and its worker did not stop"
            )
            try:
                if self.dispatcher.terminate(job, reason):
                    self._terminate_asked[ref] = now
                    report.terminated.append(job.id)
            except Exception as exc:
                log.warning("terminating %s (job %s) failed: %s", ref, job.id, exc)

    def report_stalled(self, report: TickReport) -> None:
        for job in self.dispatcher.stalled(self.stall_after_s):
            report.stalled.append(job.id)
            log_event(
                log,
                Event.DISPATCH_STALLED,
                level=logging.WARNING,
                job_id=job.id,
                executor=self.executor.name,
                executor_ref=job.executor_ref,
                waiting_s=round(self.repo.clock() - (job.dispatched_at or job.updated_at)),
                reason=self.executor.describe(job.executor_ref),
            )

    def reconcile(self, *, apply: bool) -> list[Fix]:
        fixes = plan_reconcile(self.repo, self.executor)
        if apply:
            for fix in fixes:
                try:
                    apply_fix(self.repo, self.dispatcher, fix)
                    log_event(log, Event.RECONCILE_FIX, fix=fix.to_json())
                except Exception as exc:
                    log.warning("reconcile fix %s failed: %s", fix.to_json(), exc)
        return fixes

    def advance_families(self) -> None:
        """The safety net under chunked videos: every child's transition already decides its
        family, but a process that died between the two leaves a parent waiting; this
        decides again for every waiting parent (idempotent)."""
        for parent_id in self.repo.waiting_families():
            try:
                self.repo.advance_family(parent_id)
            except Exception as exc:
                log.warning("advancing the family of job %s failed: %s", parent_id, exc)

    def tick(self) -> TickReport:
        report = TickReport(expired=self.expire_stale_leases())
        self.dispatch_due(report)
        self.terminate_overdue_cancels(report)
        if self.ticks % self.reconcile_every == 0:
            self.report_stalled(report)
            self.advance_families()
            report.reconciled = self.reconcile(apply=True)
            # Repairs may have queued jobs: dispatch them now rather than a tick later.
            self.dispatch_due(report)
        if self.housekeeping is not None:
            try:
                report.purged = self.housekeeping()
            except Exception:
                log.exception("housekeeping failed")
        self.ticks += 1
        return report

    def run(self, stop: threading.Event, interval_s: float, leader: Leadership) -> None:
        while not stop.is_set():
            if leader.acquire():
                try:
                    self.tick()
                except Exception:
                    log.exception("scheduler tick failed")
            stop.wait(interval_s)
        leader.release()


class Leadership:
    """Only one scheduler acts at a time; the others wait to take over."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


class PostgresLeadership(Leadership):
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> bool:
        import psycopg  # only PostgreSQL deployments pay for the import

        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.conninfo, autocommit=True)
                row = self.conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)
                ).fetchone()
                if not (row and row[0]):
                    self.conn.close()
                    self.conn = None
                    return False
            self.conn.execute("SELECT 1")
            return True
        except psycopg.Error as exc:
            # Losing the connection releases the lock: another scheduler may take over.
            log.warning("scheduler leadership connection lost: %s", exc)
            self.conn = None
            return False

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class FileLeadership(Leadership):
    """SQLite: one scheduler per data directory, enforced with a file lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self.handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None
