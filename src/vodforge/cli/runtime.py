"""Long-running and container commands: worker, scheduler, run-job; the runner and signal
handling `up` and `transcode` share."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from vodforge.bootstrap import Components
from vodforge.cli.fleet import scheduler_housekeeping
from vodforge.domain.states import JobState, VideoStatus
from vodforge.errors import ConfigError
from vodforge.jobs.records import ClaimedJob
from vodforge.logs import Event, log_event
from vodforge.pipeline.context import load_work
from vodforge.process import StopToken
from vodforge.scheduler import (
    FileLeadership,
    Leadership,
    PostgresLeadership,
    Scheduler,
)
from vodforge.worker.heartbeat import SHUTDOWN
from vodforge.worker.runner import ContextFactory, JobRunner
from vodforge.worker.runtime import Worker, new_worker_id

log = logging.getLogger(__name__)


def build_runner(components: Components) -> JobRunner:
    work = load_work(components.settings.work)(components.work_deps)
    telemetry = components.telemetry

    def beat(job: ClaimedJob) -> None:
        telemetry.record_heartbeat(job.tenant_id, job.video_id, job.id, job.worker_id)

    return JobRunner(
        components.repo,
        work,
        ContextFactory(components.work_deps),
        heartbeat_s=components.settings.heartbeat_s,
        lease_ttl_s=components.settings.lease_ttl_s,
        retry_policy=components.retry_policy,
        scratch_root=components.settings.scratch_dir,
        on_beat=beat,
    )


def on_termination(handler: Callable[[], None]) -> None:
    """SIGTERM (Batch, systemd, kill) and SIGINT (Ctrl-C) both mean: shut down gracefully."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s, shutting down", signum)
        handler()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def make_scheduler(components: Components) -> tuple[Scheduler, Leadership]:
    scheduler = Scheduler(
        components.repo,
        components.dispatcher,
        scanner_id=new_worker_id("scheduler"),
        housekeeping=scheduler_housekeeping(components),
    )
    if components.settings.is_postgres:
        return scheduler, PostgresLeadership(components.settings.database_url)
    db_path = components.settings.database_url.removeprefix("sqlite:///")
    return scheduler, FileLeadership(Path(db_path + ".scheduler.lock"))


def cmd_worker(components: Components, args: argparse.Namespace) -> int:
    components.listen_for_jobs()
    worker = Worker(
        components.repo,
        build_runner(components),
        concurrency=args.concurrency,
        poll_interval_s=components.settings.poll_interval_s,
        max_jobs=args.max_jobs,
    )
    on_termination(worker.request_shutdown)
    worker.run_forever()
    return 0


def cmd_scheduler(components: Components, args: argparse.Namespace) -> int:
    scheduler, leader = make_scheduler(components)
    stop = threading.Event()
    on_termination(stop.set)
    scheduler.run(stop, components.settings.scan_interval_s, leader)
    return 0


def cmd_run_job(components: Components, args: argparse.Namespace) -> int:
    """The container entry point: run exactly one job id, idempotently (SPEC §2)."""
    job_id = args.job_id or os.environ.get("VODFORGE_JOB_ID")
    if not job_id:
        raise ConfigError("run-job needs JOB_ID (argument or VODFORGE_JOB_ID)")
    try:
        job_id = str(uuid.UUID(job_id))
    except ValueError:
        raise ConfigError(f"VODFORGE_JOB_ID {job_id[:80]!r} is not a job id (a UUID)") from None
    repo = components.repo
    job = repo.find_job(job_id)
    if job is None:
        log_event(log, Event.JOB_NOT_FOUND, level=logging.WARNING, job_id=job_id)
        return 0
    if job.state is JobState.SUCCEEDED:
        log_event(log, Event.IDEMPOTENT_DONE, job_id=job_id)
        return 0
    video = components.videos_repo.find_video(job.video_id)
    if video is not None and video.status is VideoStatus.READY:
        log_event(log, Event.IDEMPOTENT_READY, job_id=job_id, video_id=video.id)
        return 0
    worker_id = new_worker_id("run-job")
    # AWS Batch names its own job in every container: recorded so a terminate reaches this run.
    claimed = repo.claim_job_by_id(job_id, worker_id, os.environ.get("AWS_BATCH_JOB_ID"))
    if claimed is None:
        log_event(log, Event.CLAIM_LOST, job_id=job_id, state=repo.get_job(job_id).state.value)
        return 0
    stop = StopToken()
    on_termination(lambda: stop.request(SHUTDOWN))
    outcome = build_runner(components).run(claimed, stop)
    # RUNNING: a long video's job split into chunk jobs, which run as jobs of their own.
    return 0 if outcome.state in (JobState.SUCCEEDED, JobState.CANCELLED, JobState.RUNNING) else 1
