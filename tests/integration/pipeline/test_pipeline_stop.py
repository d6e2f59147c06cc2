"""Stopping a job in the middle of a real transcode: a user's cancel, and a lease the worker
lost to the scanner or to another claimer. Either way ffmpeg dies within the grace period,
nothing is published, and the attempt leaves no files behind."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.support.pipeline import (
    BackgroundRun,
    pid_alive,
    pipeline_components,
    pipeline_settings,
    scratch_dir_of,
    submit_clip,
)
from tests.support.procs import live_processes_mentioning
from vodforge.bootstrap import Components
from vodforge.db.tables import jobs
from vodforge.domain.states import JobState, VideoStatus
from vodforge.jobs.repository import JobRepository
from vodforge.process import STOP_GRACE_S
from vodforge.settings import Settings
from vodforge.storage.base import video_prefix
from vodforge.worker.heartbeat import SHUTDOWN

pytestmark = pytest.mark.slow

HEARTBEAT_S = 0.5
# The stop reaches ffmpeg at the next heartbeat; SIGTERM then gets up to the grace period.
STOP_BUDGET_S = HEARTBEAT_S + STOP_GRACE_S + 5


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return pipeline_settings(
        database_url,
        tmp_path / "data",
        VODFORGE_HEARTBEAT_S=str(HEARTBEAT_S),
        VODFORGE_LEASE_TTL_S="2",
    )


@pytest.fixture
def transcoding(settings: Settings, long_clip: Path) -> Iterator[tuple[Components, BackgroundRun]]:
    """A job whose run is in its transcode stage, with ffmpeg working in its scratch dir."""
    with pipeline_components(settings) as (components, telemetry):
        video = submit_clip(components, long_clip)
        assert video.current_job_id is not None
        job = components.repo.claim_job_by_id(video.current_job_id, "test-worker")
        assert job is not None
        run = BackgroundRun(components, job).start()
        try:
            assert telemetry.wait_for_stage("transcode", timeout=60, min_percent=1.0), (
                f"no transcode progress: {telemetry.progress[-3:]}, error {run.error}"
            )
            yield components, run
        finally:
            # If the test failed early, do not leave the job's ffmpeg behind.
            run.stop.request(SHUTDOWN)
            run.join(STOP_BUDGET_S)


def ffmpeg_pids(settings: Settings, run: BackgroundRun) -> list[int]:
    return live_processes_mentioning(str(scratch_dir_of(settings, run.job)))


def assert_nothing_left(components: Components, settings: Settings, run: BackgroundRun) -> None:
    video = components.videos_repo.get_video(run.job.video_id)
    assert video.package is None
    assert components.storage.list_keys(video_prefix(video.id) + "attempts/") == []
    assert not scratch_dir_of(settings, run.job).exists()
    assert ffmpeg_pids(settings, run) == []


def test_cancel_stops_a_running_transcode(
    settings: Settings, transcoding: tuple[Components, BackgroundRun]
) -> None:
    components, run = transcoding
    pids = ffmpeg_pids(settings, run)
    assert pids, "ffmpeg is transcoding in the job's scratch directory"

    requested = time.monotonic()
    assert components.repo.cancel_video(run.job.video_id) is JobState.RUNNING
    assert components.repo.get_job(run.job.id).cancel_requested

    assert run.join(STOP_BUDGET_S), "the run returned after the cancel"
    assert time.monotonic() - requested < STOP_BUDGET_S
    assert run.error is None
    assert run.outcome is not None
    assert run.outcome.state is JobState.CANCELLED and not run.outcome.lease_lost
    assert [pid for pid in pids if pid_alive(pid)] == []
    job = components.repo.get_job(run.job.id)
    assert job.state is JobState.CANCELLED and job.lease_token is None
    assert job.attempt_count == 1
    video = components.videos_repo.get_video(run.job.video_id)
    assert video.status is VideoStatus.CANCELLED
    assert video.error_code is None
    # The request is audited as its own event; the worker then ends the job.
    events = components.repo.job_events(run.job.id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, JobState.QUEUED),
        (JobState.QUEUED, JobState.RUNNING),
        (JobState.RUNNING, JobState.RUNNING),
        (JobState.RUNNING, JobState.CANCELLED),
    ]
    assert events[2].reason == "cancel requested"
    assert events[3].worker_id == run.job.worker_id
    assert_nothing_left(components, settings, run)


def steal_lease(components: Components, job_id: str) -> JobState:
    """Another claimer took the job: its lease token is no longer ours."""
    with components.engine.begin() as conn:
        changed = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == JobState.RUNNING.value)
            .values(lease_token=str(uuid.uuid4()), leased_by="thief")
        ).rowcount
    assert changed == 1
    return JobState.RUNNING


def expire_lease(components: Components, job_id: str) -> JobState:
    """The scanner, a minute from now, finds the lease expired and takes the job back."""
    scanner = JobRepository(
        components.engine,
        lease_ttl_s=components.settings.lease_ttl_s,
        max_attempts=components.settings.max_attempts,
        clock=lambda: time.time() + 60,
    )
    expired = scanner.expire_stale_leases("test-scanner")
    assert [lease.job_id for lease in expired] == [job_id]
    return JobState.RETRY_WAIT


@pytest.mark.parametrize("take", [steal_lease, expire_lease], ids=["stolen", "expired"])
def test_a_lost_lease_stops_the_transcode_and_writes_nothing(
    settings: Settings, transcoding: tuple[Components, BackgroundRun], take: object
) -> None:
    assert callable(take)
    components, run = transcoding
    pids = ffmpeg_pids(settings, run)
    assert pids, "ffmpeg is transcoding in the job's scratch directory"

    lost_at = time.monotonic()
    state_after = take(components, run.job.id)
    taken = components.repo.get_job(run.job.id)
    events_after = components.repo.job_events(run.job.id)

    assert run.join(STOP_BUDGET_S), "the zombie run returned after losing its lease"
    assert time.monotonic() - lost_at < STOP_BUDGET_S
    assert run.error is None
    assert run.outcome is not None
    assert run.outcome.lease_lost and run.outcome.state is None
    assert [pid for pid in pids if pid_alive(pid)] == []
    # The zombie wrote nothing: the job is exactly as the new owner left it.
    job = components.repo.get_job(run.job.id)
    assert job.state is state_after
    assert job.state is not JobState.SUCCEEDED
    assert (job.lease_token, job.updated_at, job.attempt_count) == (
        taken.lease_token,
        taken.updated_at,
        taken.attempt_count,
    )
    assert components.repo.job_events(run.job.id) == events_after
    video = components.videos_repo.get_video(run.job.video_id)
    assert video.status is VideoStatus.PROCESSING
    assert_nothing_left(components, settings, run)


class StopDuringUpload:
    """Storage that, once the attempt's package is uploaded, lets `interrupt` happen before
    the upload call returns: the cancel or lost lease arrives while the worker uploads."""

    def __init__(self, inner: object, interrupt: object) -> None:
        self._inner = inner
        self._interrupt = interrupt

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def upload_dir(self, prefix: str, local_dir: Path) -> list[str]:
        keys: list[str] = self._inner.upload_dir(prefix, local_dir)  # type: ignore[attr-defined]
        assert callable(self._interrupt)
        self._interrupt()
        return keys


# Storage behaviour, the same on either database: SQLite keeps the suite short.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["cancel", "stolen"])
def test_a_stop_during_upload_leaves_no_objects(
    settings: Settings, short_clip: Path, how: str
) -> None:
    with pipeline_components(settings) as (components, _):
        video = submit_clip(components, short_clip)
        assert video.current_job_id is not None
        job = components.repo.claim_job_by_id(video.current_job_id, "test-worker")
        assert job is not None
        real = components.storage
        uploaded: list[list[str]] = []

        def interrupt() -> None:
            uploaded.append(real.list_keys(video_prefix(video.id) + "attempts/"))
            if how == "cancel":
                components.repo.cancel_video(video.id)
            else:
                steal_lease(components, job.id)
            # The heartbeat notices within one interval and sets the run's stop token.
            assert run.stop.wait(HEARTBEAT_S * 6)

        # The runner's work deps take components.storage when the runner is built, so the
        # wrapper goes in first and is what the work uploads to.
        components.storage = StopDuringUpload(real, interrupt)  # type: ignore[assignment]
        run = BackgroundRun(components, job)
        run.start()
        assert run.join(STOP_BUDGET_S)
        components.storage = real

        assert run.error is None and run.outcome is not None
        assert uploaded and uploaded[0], "the package was uploaded before the stop"
        if how == "cancel":
            assert run.outcome.state is JobState.CANCELLED
            assert components.videos_repo.get_video(video.id).status is VideoStatus.CANCELLED
        else:
            assert run.outcome.lease_lost and run.outcome.state is None
        assert components.videos_repo.get_video(video.id).package is None
        assert real.list_keys(video_prefix(video.id) + "attempts/") == []
