"""Every lifecycle transition of SPEC §2 on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import FakeClock
from tests.support.factories import queue_jobs
from vodforge.domain.states import ALLOWED_TRANSITIONS, JobState, VideoStatus
from vodforge.errors import Conflict
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.operations.deadletter import report_dead_letter
from vodforge.videos.repository import VideoRepository

RETRYABLE = Failure("TRANSCODE_FAILED", "ffmpeg was killed by signal 9", retryable=True)
PERMANENT = Failure("INVALID_INPUT", "not a video", retryable=False)


def assert_history_consistent(repo: JobRepository, job_id: str) -> None:
    events = repo.job_events(job_id)
    job = repo.get_job(job_id)
    assert events[0].from_state is None and events[0].to_state is JobState.QUEUED
    for event in events:
        if event.from_state != event.to_state:
            assert (event.from_state, event.to_state) in ALLOWED_TRANSITIONS
    assert events[-1].to_state is job.state


def test_claim_sets_lease_and_video_processing(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    [job_id] = queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w1")
    assert job is not None and job.id == job_id and job.attempt == 1
    record = repo.get_job(job_id)
    assert record.state is JobState.RUNNING
    assert record.leased_by == "w1" and record.lease_token == job.lease_token
    assert record.leased_until == clock.now + 30
    assert videos.get_video(job.video_id).status is VideoStatus.PROCESSING
    assert repo.claim_job("w2") is None


def test_complete_publishes_package_in_same_transaction(
    repo: JobRepository, videos: VideoRepository
) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w1")
    assert job is not None
    package = {"prefix": "videos/x/attempts/y-1/", "master": "master.m3u8"}
    assert repo.complete_job(job, package) is JobState.SUCCEEDED
    video = videos.get_video(job.video_id)
    assert video.status is VideoStatus.READY and video.package == package
    assert_history_consistent(repo, job.id)


def test_retryable_failure_backs_off_then_dies(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    [job_id] = queue_jobs(repo, "acme", 1)
    for attempt in (1, 2):
        job = repo.claim_job("w1")
        assert job is not None and job.attempt == attempt
        assert repo.fail_job(job, RETRYABLE, retry_delay_s=10) is JobState.RETRY_WAIT
        assert repo.claim_job("w1") is None, "backoff must hold the job"
        clock.advance(10)
    job = repo.claim_job("w1")
    assert job is not None and job.attempt == 3
    assert repo.fail_job(job, RETRYABLE, retry_delay_s=10) is JobState.DEAD
    assert repo.get_job(job_id).run_after is None, "a dead job is not retrying at any time"
    video = videos.get_video(job.video_id)
    assert video.status is VideoStatus.FAILED and video.error_code == "ATTEMPTS_EXHAUSTED"
    assert "TRANSCODE_FAILED" in (video.error_message or "")
    assert_history_consistent(repo, job_id)


def test_permanent_failure_is_not_retried(repo: JobRepository, videos: VideoRepository) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w1")
    assert job is not None
    assert repo.fail_job(job, PERMANENT) is JobState.FAILED
    video = videos.get_video(job.video_id)
    assert (video.status, video.error_code) == (VideoStatus.FAILED, "INVALID_INPUT")
    assert repo.get_job(job.id).attempt_count == 1
    assert repo.claim_job("w1") is None


def test_zombie_writes_are_fenced(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    """A's lease expires, B re-claims; A's heartbeat, complete and fail change nothing."""
    [job_id] = queue_jobs(repo, "acme", 1)
    zombie = repo.claim_job("worker-a")
    assert zombie is not None
    clock.advance(31)
    [expired] = repo.expire_stale_leases("scanner")
    assert expired.state is JobState.RETRY_WAIT and expired.job_id == job_id
    fresh = repo.claim_job("worker-b")
    assert fresh is not None and fresh.id == job_id and fresh.attempt == 2
    before = repo.get_job(job_id)
    events_before = repo.job_events(job_id)

    assert repo.renew_lease(zombie) is None
    assert repo.complete_job(zombie, {"prefix": "zombie/"}) is None
    assert repo.fail_job(zombie, RETRYABLE) is None
    assert repo.fail_job(zombie, PERMANENT) is None
    assert repo.release_job(zombie) is None
    assert repo.get_job(job_id) == before
    assert repo.job_events(job_id) == events_before

    assert repo.renew_lease(fresh) is False
    assert repo.complete_job(fresh, {"prefix": "fresh/"}) is JobState.SUCCEEDED
    assert videos.get_video(fresh.video_id).package == {"prefix": "fresh/"}
    assert_history_consistent(repo, job_id)


def test_expiry_counts_attempts_until_dead(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    [job_id] = queue_jobs(repo, "acme", 1)
    states = []
    for _ in range(3):
        assert repo.claim_job("w") is not None
        clock.advance(31)
        [expired] = repo.expire_stale_leases("scanner")
        states.append(expired.state)
    assert states == [JobState.RETRY_WAIT, JobState.RETRY_WAIT, JobState.DEAD]
    job = repo.get_job(job_id)
    assert job.attempt_count == job.max_attempts == 3
    assert videos.get_video(job.video_id).status is VideoStatus.FAILED
    assert repo.expire_stale_leases("scanner") == []


def test_renewal_keeps_lease_alive(repo: JobRepository, clock: FakeClock) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    for _ in range(5):
        clock.advance(20)
        assert repo.renew_lease(job) is False
        assert repo.expire_stale_leases("scanner") == []


def test_cancel_waiting_job_is_immediate(repo: JobRepository, videos: VideoRepository) -> None:
    [job_id] = queue_jobs(repo, "acme", 1)
    video_id = repo.get_job(job_id).video_id
    assert repo.cancel_video(video_id) is JobState.CANCELLED
    assert videos.get_video(video_id).status is VideoStatus.CANCELLED
    assert repo.claim_job("w") is None
    with pytest.raises(Conflict):
        repo.cancel_video(video_id)


def test_cancel_running_job_goes_through_worker(
    repo: JobRepository, videos: VideoRepository
) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    assert repo.cancel_video(job.video_id) is JobState.RUNNING
    assert repo.renew_lease(job) is True, "the heartbeat reports the cancel request"
    assert repo.finish_cancelled(job) is JobState.CANCELLED
    assert videos.get_video(job.video_id).status is VideoStatus.CANCELLED
    reasons = [e.reason for e in repo.job_events(job.id)]
    assert "cancel requested" in reasons
    assert_history_consistent(repo, job.id)


def test_cancel_wins_over_late_completion(repo: JobRepository, videos: VideoRepository) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    repo.cancel_video(job.video_id)
    assert repo.complete_job(job, {"prefix": "late/"}) is JobState.CANCELLED
    video = videos.get_video(job.video_id)
    assert video.status is VideoStatus.CANCELLED and video.package is None


def test_cancel_of_dead_worker_ends_at_expiry(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    repo.cancel_video(job.video_id)
    clock.advance(31)
    [expired] = repo.expire_stale_leases("scanner")
    assert expired.state is JobState.CANCELLED
    assert videos.get_video(job.video_id).status is VideoStatus.CANCELLED


def test_release_gives_job_back_without_counting(repo: JobRepository) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w1")
    assert job is not None
    assert repo.release_job(job) is JobState.QUEUED
    again = repo.claim_job("w2")
    assert again is not None and again.attempt == 1


def test_dead_letter_responses_by_state(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    queued, running, done = queue_jobs(repo, "acme", 3)
    assert report_dead_letter(repo, queued) == {"ok": True, "marked": "DEAD", "state": "DEAD"}
    assert videos.get_video(repo.get_job(queued).video_id).error_code == "DEAD_LETTERED"
    assert report_dead_letter(repo, queued) == {
        "ok": True,
        "skipped": "already_terminal",
        "state": "DEAD",
    }
    job = repo.claim_job_by_id(running, "w")
    assert job is not None
    assert report_dead_letter(repo, running) == {
        "ok": True,
        "skipped": "running_alert_only",
        "state": "RUNNING",
    }
    assert repo.get_job(running).state is JobState.RUNNING
    job_done = repo.claim_job_by_id(done, "w")
    assert job_done is not None
    repo.complete_job(job_done, {"prefix": "p/"})
    assert report_dead_letter(repo, done) == {
        "ok": True,
        "skipped": "already_terminal",
        "state": "SUCCEEDED",
    }
    # RETRY_WAIT is marked DEAD like QUEUED.
    repo.fail_job(job, RETRYABLE, retry_delay_s=60)
    assert report_dead_letter(repo, running)["state"] == "DEAD"


def test_user_retry_creates_new_job_and_keeps_history(
    repo: JobRepository, videos: VideoRepository
) -> None:
    [first] = queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    repo.fail_job(job, PERMANENT)
    second = repo.retry_video(job.video_id)
    assert second != first
    video = videos.get_video(job.video_id)
    assert video.status is VideoStatus.UPLOADED and video.current_job_id == second
    assert video.error_code is None
    assert [j.id for j in repo.jobs_of_video(job.video_id)] == [first, second]
    assert repo.get_job(first).state is JobState.FAILED
    with pytest.raises(Conflict):
        repo.retry_video(job.video_id)
    claimed = repo.claim_job("w")
    assert claimed is not None and claimed.id == second and claimed.attempt == 1


def test_old_job_cannot_touch_video_after_retry(
    repo: JobRepository, videos: VideoRepository
) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    repo.cancel_video(job.video_id)
    repo.finish_cancelled(job)
    repo.retry_video(job.video_id)
    # The old attempt's zombie completion is fenced and the video stays with the new job.
    assert repo.complete_job(job, {"prefix": "old/"}) is None
    assert videos.get_video(job.video_id).status is VideoStatus.UPLOADED


def test_backlog_counts(repo: JobRepository, clock: FakeClock) -> None:
    queue_jobs(repo, "acme", 4)
    a = repo.claim_job("w")
    b = repo.claim_job("w")
    assert a is not None and b is not None
    repo.fail_job(a, RETRYABLE, retry_delay_s=60)
    backlog = repo.backlog()
    assert backlog.to_json() == {"queued": 2, "retry_wait": 1, "backlog": 3, "running": 1}


def test_dispatch_bookkeeping(repo: JobRepository, clock: FakeClock) -> None:
    dispatcher = Dispatcher(repo, InMemoryExecutor())
    ids = queue_jobs(repo, "acme", 2)
    assert sorted(dispatcher.jobs_due()) == sorted(ids)
    assert dispatcher.mark_dispatched(ids[0], "batch-123")
    assert dispatcher.record_error(ids[1], "ThrottlingException")
    assert dispatcher.jobs_due() == [ids[1]]
    job = repo.get_job(ids[1])
    assert job.state is JobState.QUEUED and job.dispatch_error == "ThrottlingException"
    clock.advance(600)
    assert dispatcher.stalled(older_than_s=700) == []
    # Both wait unclaimed: one handed over long ago, one whose dispatch keeps failing.
    assert sorted(j.id for j in dispatcher.stalled(older_than_s=300)) == sorted(ids)
