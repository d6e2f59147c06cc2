"""`vodforge worker`: N slots that claim jobs, run them, and shut down gracefully."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from vodforge.db.wakeup import Wakeup
from vodforge.jobs.records import ClaimedJob
from vodforge.jobs.repository import JobRepository
from vodforge.logs import Event, log_event
from vodforge.process import StopToken
from vodforge.worker.heartbeat import SHUTDOWN
from vodforge.worker.runner import JobRunner
from vodforge.worker.scratch import sweep_stale_scratch

log = logging.getLogger(__name__)


def new_worker_id(kind: str = "worker") -> str:
    """Unique per process start, so a restarted worker never mistakes an old lease for its own."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        repo: JobRepository,
        runner: JobRunner,
        *,
        concurrency: int = 1,
        poll_interval_s: float = 1.0,
        wakeup: Wakeup | None = None,
        worker_id: str | None = None,
        max_jobs: int | None = None,
    ) -> None:
        self.repo = repo
        self.runner = runner
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.wakeup = wakeup or repo.wakeup
        self.worker_id = worker_id or new_worker_id()
        self.max_jobs = max_jobs
        self.jobs_run = 0
        self._shutdown = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, StopToken] = {}
        self._threads: list[threading.Thread] = []

    @property
    def shutting_down(self) -> bool:
        return self._shutdown.is_set()

    def start(self) -> None:
        try:
            # Attempts whose worker died on this host left their files behind.
            sweep_stale_scratch(self.repo, self.runner.scratch_root)
        except Exception as exc:
            log.warning("sweeping stale scratch directories failed: %s", exc)
        log_event(log, Event.WORKER_STARTED, worker_id=self.worker_id, concurrency=self.concurrency)
        for slot in range(self.concurrency):
            thread = threading.Thread(target=self._slot, args=(slot,), name=f"slot-{slot}")
            thread.start()
            self._threads.append(thread)

    def request_shutdown(self) -> None:
        """Stop claiming, stop running children and give their jobs back."""
        self._shutdown.set()
        with self._lock:
            for stop in self._running.values():
                stop.request(SHUTDOWN)
        self.wakeup.signal()

    def join(self, timeout: float | None = None) -> bool:
        for thread in self._threads:
            thread.join(timeout)
        alive = any(thread.is_alive() for thread in self._threads)
        if not alive:
            log_event(log, Event.WORKER_STOPPED, worker_id=self.worker_id, jobs_run=self.jobs_run)
        return not alive

    def run_forever(self) -> None:
        """Block until shutdown; joins in short steps so the main thread still sees signals."""
        self.start()
        while not self.join(timeout=0.5):
            pass

    def _slot(self, slot: int) -> None:
        slot_id = f"{self.worker_id}/{slot}"
        woken = False
        while not self._shutdown.is_set():
            seen = self.wakeup.generation()
            try:
                job = self._claim(slot_id)
            except Exception as exc:
                log.warning("claim failed, retrying: %s", exc)
                self._shutdown.wait(self.poll_interval_s)
                continue
            if job is None:
                if woken:
                    # Woken but empty-handed: the new job's row may have been locked for a
                    # moment (SKIP LOCKED skips it). Look again shortly, not a poll later.
                    woken = False
                    self._shutdown.wait(0.05)
                    continue
                woken = self.wakeup.wait(seen, self.poll_interval_s)
                continue
            woken = False
            stop = StopToken()
            with self._lock:
                self._running[job.id] = stop
                if self._shutdown.is_set():
                    stop.request(SHUTDOWN)
            try:
                self.runner.run(job, stop)
            except Exception:
                log.exception("recording the outcome of job %s failed", job.id)
            finally:
                with self._lock:
                    self._running.pop(job.id, None)
                    self.jobs_run += 1
                    if self.max_jobs is not None and self.jobs_run >= self.max_jobs:
                        self._shutdown.set()
                        self.wakeup.signal()

    def _claim(self, slot_id: str) -> ClaimedJob | None:
        if self.max_jobs is not None:
            with self._lock:
                if self.jobs_run + len(self._running) >= self.max_jobs:
                    return None
        return self.repo.claim_job(slot_id)
