"""The heartbeat thread: renews the lease and reads cancel_requested, whatever the job does.

It runs beside the job's own code, so a job stuck in ffmpeg or in Python still has its lease
renewed, and a lost lease or a cancel still reaches the child process through the StopToken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from vodforge.jobs.records import ClaimedJob
from vodforge.jobs.repository import JobRepository
from vodforge.logs import Event, log_event
from vodforge.process import StopToken

log = logging.getLogger(__name__)

LEASE_LOST = "lease_lost"
CANCELLED = "cancelled"
SHUTDOWN = "shutdown"


class Heartbeat(threading.Thread):
    def __init__(
        self,
        repo: JobRepository,
        job: ClaimedJob,
        stop: StopToken,
        *,
        interval_s: float,
        lease_ttl_s: float,
        on_beat: Callable[[ClaimedJob], None] | None = None,
    ) -> None:
        super().__init__(name=f"heartbeat-{job.id[:8]}", daemon=True)
        self.repo = repo
        self.job = job
        self.stop_token = stop
        self.interval_s = interval_s
        self.lease_ttl_s = lease_ttl_s
        self.on_beat = on_beat
        self.lost = False
        self.beats = 0
        # When the lease was last known to hold (time.monotonic()): the claim, then each beat.
        self.renewed_at = time.monotonic()
        self._finished = threading.Event()

    def finish(self) -> None:
        self._finished.set()
        self.join(timeout=self.interval_s + 5)

    def run(self) -> None:
        while not self._finished.wait(self.interval_s):
            try:
                cancel_requested = self.repo.renew_lease(self.job)
            except Exception as exc:
                log.warning("heartbeat for job %s failed: %s", self.job.id, exc)
                # Past the lease TTL someone else may hold the job: stop ours to be safe.
                if time.monotonic() - self.renewed_at > self.lease_ttl_s:
                    self._lose("lease could not be renewed within its TTL")
                    return
                continue
            if cancel_requested is None:
                self._lose("lease token no longer matches")
                return
            self.renewed_at = time.monotonic()
            self.beats += 1
            if cancel_requested:
                self.stop_token.request(CANCELLED)
            if self.on_beat is not None:
                try:
                    self.on_beat(self.job)
                except Exception as exc:
                    log.warning("heartbeat telemetry failed: %s", exc)

    def _lose(self, why: str) -> None:
        self.lost = True
        self.stop_token.request(LEASE_LOST)
        log_event(
            log,
            Event.LEASE_LOST,
            level=logging.WARNING,
            job_id=self.job.id,
            worker_id=self.job.worker_id,
            attempt=self.job.attempt,
            why=why,
        )
