"""Runs one claimed job to its outcome and records it through the repository."""

from __future__ import annotations

import errno
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from vodforge.domain.retry import RetryPolicy
from vodforge.domain.states import JobKind, JobState
from vodforge.errors import ErrorCode, RetryableError, StopRequested, VodforgeError
from vodforge.jobs.records import ClaimedJob
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.logs import Event, log_event
from vodforge.pipeline.context import JobContext, Work, WorkDeps, WorkResult
from vodforge.process import StopToken
from vodforge.worker.heartbeat import CANCELLED, SHUTDOWN, Heartbeat
from vodforge.worker.scratch import scratch_dir

log = logging.getLogger(__name__)

RECORD_RETRY_S = 1.0  # between attempts to record an outcome while the database is away
# Below this much free scratch space, an invalid output is blamed on the disk: ffmpeg's HLS
# muxer can leave an empty playlist on a full disk without a word, and exit 0.
LOW_SCRATCH_BYTES = 1 << 20


@dataclass(frozen=True)
class Outcome:
    """How the attempt ended: the state written, or None when nothing could be written."""

    state: JobState | None
    lease_lost: bool = False
    failure: Failure | None = None

    @property
    def succeeded(self) -> bool:
        return self.state is JobState.SUCCEEDED


def failure_from(exc: BaseException) -> Failure:
    if isinstance(exc, VodforgeError):
        return Failure(exc.code.value, exc.message, retryable=exc.retryable)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        # Another attempt (later, or on a worker with room) may well succeed; named apart
        # from INTERNAL_ERROR so an operator sees at once that a disk needs room.
        where = f" writing {exc.filename}" if exc.filename else ""
        return Failure(ErrorCode.DISK_FULL.value, f"no space left on device{where}", retryable=True)
    # An unexpected bug may be transient (a full disk, a flaky mount): retry it, bounded.
    return Failure(ErrorCode.INTERNAL_ERROR.value, f"{type(exc).__name__}: {exc}", retryable=True)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def blame_a_full_disk(exc: Exception, scratch: Path) -> Exception:
    """OUTPUT_INVALID becomes DISK_FULL when the scratch disk is (nearly) full, looked at
    before the attempt's own files are removed and give their space back."""
    if not (isinstance(exc, VodforgeError) and exc.code is ErrorCode.OUTPUT_INVALID):
        return exc
    try:
        free = free_bytes(scratch)
    except OSError:
        return exc
    if free >= LOW_SCRATCH_BYTES:
        return exc
    return RetryableError(
        f"{exc.message} ({free // 1024} KiB free on the scratch disk)", code=ErrorCode.DISK_FULL
    )


class JobRunner:
    def __init__(
        self,
        repo: JobRepository,
        work: Work,
        context_factory: ContextFactory,
        *,
        heartbeat_s: float,
        lease_ttl_s: float,
        retry_policy: RetryPolicy,
        scratch_root: Path,
        on_beat: Callable[[ClaimedJob], None] | None = None,
    ) -> None:
        self.repo = repo
        self.work = work
        self.context_factory = context_factory
        self.heartbeat_s = heartbeat_s
        self.lease_ttl_s = lease_ttl_s
        self.retry_policy = retry_policy
        self.scratch_root = scratch_root
        self.on_beat = on_beat

    def run(self, job: ClaimedJob, stop: StopToken) -> Outcome:
        started = time.monotonic()
        scratch = scratch_dir(self.scratch_root, job.id, job.attempt)
        heartbeat = Heartbeat(
            self.repo,
            job,
            stop,
            interval_s=self.heartbeat_s,
            lease_ttl_s=self.lease_ttl_s,
            on_beat=self.on_beat,
        )
        heartbeat.start()
        fields: dict[str, Any] = dict(
            job_id=job.id,
            video_id=job.video_id,
            tenant_id=job.tenant_id,
            attempt=job.attempt,
            worker_id=job.worker_id,
        )
        log_event(log, Event.JOB_CLAIMED, **fields)
        log_event(log, Event.PROCESS_START, **fields)
        error: BaseException | None = None
        result: WorkResult | None = None
        try:
            # Inside the try: whatever happens from here, the finally removes the directory
            # (a worker killed outright leaves it to sweep_stale_scratch at the next start).
            scratch.mkdir(parents=True, exist_ok=True)
            result = self.work(self.context_factory(job, stop, scratch))
        except StopRequested:
            pass
        except Exception as exc:
            error = blame_a_full_disk(exc, scratch)
            if not isinstance(exc, VodforgeError):
                log.exception("job %s raised an unexpected error", job.id)
        finally:
            heartbeat.finish()
            shutil.rmtree(scratch, ignore_errors=True)
        took_ms = int((time.monotonic() - started) * 1000)
        outcome, retried = self._record_while_leased(
            job, heartbeat, lambda: self._record(job, stop, heartbeat, result, error, took_ms)
        )
        # A write retried after a lost connection may have committed the first time (and been
        # fenced the second): then nobody knows whether these files were published, and the
        # sweep of unowned attempts, which reads the database, removes them if they were not.
        unknown = retried and outcome.state is None
        if result is not None and result.files is not None and not unknown:
            self._tidy_storage(job, result.files, published=outcome.succeeded)
        return outcome

    def _record_while_leased(
        self, job: ClaimedJob, heartbeat: Heartbeat, record: Callable[[], Outcome]
    ) -> tuple[Outcome, bool]:
        """Records the outcome, retrying while the database is away (a restart, a failover)
        and the lease still holds: giving up would throw a finished transcode away and redo it
        once the lease lapsed. Every transition is fenced by the lease token, so a retry can
        never write over another worker's claim."""
        retried = False
        while True:
            try:
                return record(), retried
            except DBAPIError as exc:
                transient = isinstance(exc, OperationalError) or exc.connection_invalidated
                lease_left = heartbeat.renewed_at + self.lease_ttl_s - time.monotonic()
                if not transient or lease_left < 2 * RECORD_RETRY_S:
                    raise
                log.warning(
                    "recording the outcome of job %s failed, retrying: %s",
                    job.id,
                    str(exc).splitlines()[0][:200],
                )
                retried = True
                time.sleep(RECORD_RETRY_S)

    def _tidy_storage(self, job: ClaimedJob, package: dict[str, Any], *, published: bool) -> None:
        """Let the work remove files nobody will read: other attempts' once one is published,
        or this attempt's own when it was not (fenced out, cancelled, failed late)."""
        hook = getattr(self.work, "published" if published else "discarded", None)
        if hook is None:
            return
        try:
            hook(job, package)
        except Exception as exc:
            log.warning("cleaning up storage for job %s failed: %s", job.id, exc)

    def _record(
        self,
        job: ClaimedJob,
        stop: StopToken,
        heartbeat: Heartbeat,
        result: WorkResult | None,
        error: BaseException | None,
        took_ms: int,
    ) -> Outcome:
        fields: dict[str, Any] = {
            "job_id": job.id,
            "video_id": job.video_id,
            "attempt": job.attempt,
            "worker_id": job.worker_id,
            "took_ms": took_ms,
        }
        if heartbeat.lost:
            # Someone else may own the job now: write nothing more.
            return Outcome(state=None, lease_lost=True)
        if stop.requested:
            # A stop request wins over whatever the work returned, even a clean exit.
            if stop.reason == SHUTDOWN:
                state = self.repo.release_job(job)
                log_event(log, Event.JOB_RELEASED, state=_name(state), **fields)
                return Outcome(state=state, lease_lost=state is None)
            if stop.reason == CANCELLED:
                state = self.repo.finish_cancelled(job)
                log_event(log, Event.JOB_CANCELLED, state=_name(state), **fields)
                return Outcome(state=state, lease_lost=state is None)
        if error is None and result is not None and result.children:
            split = self.repo.split_job(job, result.children)
            # Refused: fenced out, or a cancel came after the last heartbeat, which wins over
            # the split as over a result (finish_cancelled ends only the latter).
            state = JobState.RUNNING if split else self.repo.finish_cancelled(job)
            log_event(log, Event.JOB_SPLIT, children=len(result.children), split=split, **fields)
            return Outcome(state=state, lease_lost=state is None)
        if error is None and result is not None and (result.package or result.output):
            state = self._complete(job, result)
            event = Event.JOB_CANCELLED if state is JobState.CANCELLED else Event.JOB_COMPLETED
            log_event(log, event, state=_name(state), kind=job.kind.value, **fields)
            return Outcome(state=state, lease_lost=state is None)
        failure = failure_from(error or RuntimeError("work returned no package"))
        delay = self.retry_policy.delay_s(job.attempt)
        state = self.repo.fail_job(job, failure, retry_delay_s=delay)
        log_event(
            log,
            Event.JOB_FAILED,
            level=logging.WARNING,
            state=_name(state),
            code=failure.code,
            error=failure.message,
            retryable=failure.retryable,
            retry_in_s=round(delay, 1) if state is JobState.RETRY_WAIT else None,
            **fields,
        )
        return Outcome(state=state, lease_lost=state is None, failure=failure)

    def _complete(self, job: ClaimedJob, result: WorkResult) -> JobState | None:
        """The completing transition for this kind of job."""
        if job.kind is JobKind.STITCH and result.package is not None:
            return self.repo.publish_family(job, result.package)
        if job.parent_id is not None and result.output is not None:
            return self.repo.complete_part(job, result.output)
        assert result.package is not None, f"a {job.kind.value} job must return a package"
        return self.repo.complete_job(job, result.package)


def _name(state: JobState | None) -> str | None:
    return state.value if state is not None else None


class ContextFactory:
    """Builds the JobContext a work function receives (kept apart so tests can swap it)."""

    def __init__(self, deps: WorkDeps) -> None:
        self.deps = deps

    def __call__(self, job: ClaimedJob, stop: StopToken, scratch: Path) -> JobContext:
        return JobContext(job=job, stop=stop, scratch_dir=scratch, deps=self.deps)
