"""Chunked encoding's job families on real SQLite and PostgreSQL (SPEC §3 item 7): the split,
parts that complete, fail, expire or are cancelled, the one stitch that publishes, and the
parent that ends only once no child is live."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import FakeClock
from tests.support.factories import ensure_tenant, queue_jobs
from vodforge.domain.retry import RetryPolicy
from vodforge.domain.states import (
    ALLOWED_TRANSITIONS,
    TERMINAL_JOB_STATES,
    JobKind,
    JobState,
    VideoStatus,
)
from vodforge.errors import InputRejected
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.family import NewChild
from vodforge.jobs.records import ClaimedJob, JobRecord
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.operations.deadletter import report_dead_letter
from vodforge.pipeline.context import JobContext, WorkResult
from vodforge.process import StopToken
from vodforge.scheduler import Scheduler
from vodforge.videos.progress import family_progress
from vodforge.videos.repository import VideoRepository
from vodforge.worker.runner import JobRunner

RETRYABLE = Failure("TRANSCODE_FAILED", "ffmpeg was killed by signal 9", retryable=True)
PERMANENT = Failure("INVALID_INPUT", "chunk 1 has no keyframe", retryable=False)
PARTS = (JobKind.AUDIO, JobKind.CHUNK, JobKind.CHUNK, JobKind.CHUNK)


def family_children(chunks: int = 3) -> list[NewChild]:
    """The audio job, then one chunk per 60 s span, as the chunked pipeline splits."""
    spans = [
        NewChild(JobKind.CHUNK, {"index": n, "start_s": 60.0 * n, "end_s": 60.0 * (n + 1)})
        for n in range(chunks)
    ]
    return [NewChild(JobKind.AUDIO, {"codec": "aac"}), *spans]


def split_video(
    repo: JobRepository, clock: FakeClock, tenant: str = "acme", chunks: int = 3
) -> ClaimedJob:
    """A video whose job a worker claimed and split into audio + `chunks` chunk jobs."""
    queue_jobs(repo, tenant, 1)
    parent = repo.claim_job("splitter")
    assert parent is not None and parent.kind is JobKind.TRANSCODE
    assert repo.split_job(parent, family_children(chunks))
    # The split staggers its children's created_at (and so run_after) by a microsecond each,
    # to keep their claim order; a frozen clock must move for all of them to be due.
    clock.advance(0.001)
    return parent


def claim_part(repo: JobRepository, worker: str = "w") -> ClaimedJob:
    part = repo.claim_job(worker)
    assert part is not None, "a part should be claimable"
    assert part.parent_id is not None
    return part


def output_of(part: ClaimedJob) -> dict[str, Any]:
    return {"prefix": f"parts/{part.id}/{part.attempt}/", "segments": 30}


def claim_all_parts(repo: JobRepository, count: int = len(PARTS)) -> list[ClaimedJob]:
    return [claim_part(repo, f"w{n}") for n in range(count)]


def live_children(repo: JobRepository, parent_id: str) -> list[JobRecord]:
    return [c for c in repo.family_parts(parent_id) if c.state not in TERMINAL_JOB_STATES]


def assert_history_consistent(repo: JobRepository, job_id: str) -> None:
    events = repo.job_events(job_id)
    assert events[0].from_state is None and events[0].to_state is JobState.QUEUED
    for event in events:
        if event.from_state != event.to_state:
            assert (event.from_state, event.to_state) in ALLOWED_TRANSITIONS, event
    assert events[-1].to_state is repo.get_job(job_id).state


def assert_family_consistent(repo: JobRepository, parent_id: str) -> None:
    assert_history_consistent(repo, parent_id)
    for child in repo.family_parts(parent_id):
        assert_history_consistent(repo, child.id)


# -- the happy path ---------------------------------------------------------------------------


def test_split_leaves_the_parent_waiting_and_queues_the_children(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    record = repo.get_job(parent.id)
    assert record.waiting_on_children and record.state is JobState.RUNNING
    assert record.lease_token is None and record.leased_until is None
    children = repo.family_parts(parent.id)
    assert [c.kind for c in children] == list(PARTS)
    assert [c.spec["index"] for c in children[1:]] == [0, 1, 2]  # type: ignore[index]
    assert all(c.state is JobState.QUEUED and c.parent_id == parent.id for c in children)
    assert all(c.video_id == parent.video_id for c in children)
    assert videos.get_video(parent.video_id).status is VideoStatus.PROCESSING
    # A waiting parent has no lease for the scanner to expire, however long it waits, and
    # the family's parts are claimed in the order the split gave (audio, then the chunks).
    clock.advance(3600)
    assert repo.stale_lease_count() == 0
    assert repo.expire_stale_leases("scanner") == []
    assert [claim_part(repo).id for _ in children] == [c.id for c in children]


def test_every_part_succeeding_starts_one_stitch_that_publishes(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    parts = claim_all_parts(repo)
    for part in parts[:-1]:
        assert repo.complete_part(part, output_of(part)) is JobState.SUCCEEDED
        assert all(c.kind is not JobKind.STITCH for c in repo.family_parts(parent.id))
        assert repo.get_job(parent.id).waiting_on_children
    assert repo.complete_part(parts[-1], output_of(parts[-1])) is JobState.SUCCEEDED
    stitches = [c for c in repo.family_parts(parent.id) if c.kind is JobKind.STITCH]
    assert len(stitches) == 1 and stitches[0].state is JobState.QUEUED
    for part in parts:
        assert repo.get_job(part.id).result == output_of(part)

    # Deciding again changes nothing: still one stitch.
    repo.advance_family(parent.id)
    assert sum(c.kind is JobKind.STITCH for c in repo.family_parts(parent.id)) == 1

    clock.advance(1)
    stitch = claim_part(repo, "stitcher")
    assert stitch.kind is JobKind.STITCH and stitch.id == stitches[0].id
    assert repo.get_job(parent.id).waiting_on_children, "the parent waits for the stitch too"
    package = {"prefix": f"videos/{parent.video_id}/attempts/{stitch.id}/", "master": "m.m3u8"}
    assert repo.publish_family(stitch, package) is JobState.SUCCEEDED

    assert repo.get_job(parent.id).state is JobState.SUCCEEDED
    assert repo.get_job(stitch.id).state is JobState.SUCCEEDED
    video = videos.get_video(parent.video_id)
    assert video.status is VideoStatus.READY and video.package == package
    assert video.current_job_id == parent.id
    assert_family_consistent(repo, parent.id)

    # The video's events list every job of its family, each with its kind.
    events = videos.video_events(parent.video_id)
    kinds_by_job = {event.job_id: event.kind for event in events}
    assert kinds_by_job[parent.id] is JobKind.TRANSCODE
    assert {kinds_by_job[c.id] for c in repo.family_parts(parent.id)} == set(PARTS) | {
        JobKind.STITCH
    }
    assert set(kinds_by_job) == {parent.id} | {c.id for c in repo.family_parts(parent.id)}
    assert [e.id for e in events] == sorted(e.id for e in events)
    final = [e for e in events if e.job_id == parent.id][-1]
    assert (final.from_state, final.to_state) == (JobState.RUNNING, JobState.SUCCEEDED)
    assert final.to_json()["kind"] == "transcode"

    # Nothing is left to do, and the family's finished jobs are not waiting for anything.
    assert repo.claim_job("w") is None
    assert repo.waiting_families() == []


def test_a_retryable_chunk_failure_retries_that_chunk_alone(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    audio, chunk0, chunk1, chunk2 = claim_all_parts(repo)
    assert repo.complete_part(audio, output_of(audio)) is JobState.SUCCEEDED
    before = {c.id: c for c in repo.family_parts(parent.id) if c.id != chunk1.id}

    assert repo.fail_job(chunk1, RETRYABLE, retry_delay_s=10) is JobState.RETRY_WAIT
    # The siblings (running or done) are untouched, and so is the parent.
    assert {c.id: c for c in repo.family_parts(parent.id) if c.id != chunk1.id} == before
    assert repo.get_job(parent.id).waiting_on_children
    assert not repo.get_job(parent.id).cancel_requested
    assert videos.get_video(parent.video_id).status is VideoStatus.PROCESSING
    assert repo.claim_job("w") is None, "backoff holds the chunk"

    clock.advance(10)
    again = claim_part(repo, "w-retry")
    assert again.id == chunk1.id and again.attempt == 2
    for part in (chunk0, chunk2, again):
        assert repo.complete_part(part, output_of(part)) is JobState.SUCCEEDED
    assert repo.get_job(chunk1.id).result == output_of(again)
    clock.advance(1)
    stitch = claim_part(repo)
    assert stitch.kind is JobKind.STITCH
    assert repo.publish_family(stitch, {"prefix": "p/"}) is JobState.SUCCEEDED
    assert videos.get_video(parent.video_id).status is VideoStatus.READY
    assert_family_consistent(repo, parent.id)


# -- failures end the family only once no child is live ----------------------------------------


def test_a_permanent_chunk_failure_cancels_the_siblings_then_fails_the_video(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    audio = claim_part(repo, "w-audio")
    chunk0 = claim_part(repo, "w-0")
    assert repo.complete_part(audio, output_of(audio)) is JobState.SUCCEEDED
    chunk1, chunk2 = repo.family_parts(parent.id)[2:4]

    # chunk 0 fails for good while chunks 1 and 2 still wait; one of them is then running.
    running = claim_part(repo, "w-1")
    assert running.id == chunk1.id
    assert repo.fail_job(chunk0, PERMANENT) is JobState.FAILED
    after = {c.id: c for c in repo.family_parts(parent.id)}
    assert after[audio.id].state is JobState.SUCCEEDED
    assert after[chunk0.id].state is JobState.FAILED
    assert after[chunk2.id].state is JobState.CANCELLED, "a waiting sibling ends at once"
    assert after[chunk1.id].state is JobState.RUNNING and after[chunk1.id].cancel_requested
    # A child is still live: the parent and the video wait for it.
    assert repo.get_job(parent.id).waiting_on_children
    assert videos.get_video(parent.video_id).status is VideoStatus.PROCESSING
    repo.advance_family(parent.id)
    assert repo.get_job(parent.id).waiting_on_children

    clock.advance(2)
    assert repo.renew_lease(running) is True, "the running sibling's heartbeat sees the cancel"
    assert repo.finish_cancelled(running) is JobState.CANCELLED
    record = repo.get_job(parent.id)
    assert record.state is JobState.FAILED
    assert record.last_error_code == "INVALID_INPUT"
    video = videos.get_video(parent.video_id)
    assert (video.status, video.error_code) == (VideoStatus.FAILED, "INVALID_INPUT")
    assert "chunk 0 (0-60 s)" in (video.error_message or "")
    assert "no keyframe" in (video.error_message or "")
    assert repo.claim_job("w") is None
    assert all(c.kind is not JobKind.STITCH for c in repo.family_parts(parent.id))
    assert_family_consistent(repo, parent.id)


def test_a_failure_at_the_instant_siblings_are_cancelled_still_names_the_failure(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    """Regression: the siblings the family cancels end at the same clock reading as the
    chunk that failed (a frozen or coarse clock, or several hosts' clocks). The failure must
    win over its own consequences, whatever the ids, so the video is FAILED, not CANCELLED."""
    for n in range(6):
        parent = split_video(repo, clock, tenant=f"t{n}")
        part = claim_part(repo)
        assert repo.fail_job(part, PERMANENT) is JobState.FAILED
        assert repo.get_job(parent.id).state is JobState.FAILED, n
        video = videos.get_video(parent.video_id)
        assert (video.status, video.error_code) == (VideoStatus.FAILED, "INVALID_INPUT")


def test_a_sibling_cancelled_on_a_slower_clock_does_not_turn_the_failure_into_a_cancel(
    engine: Engine, videos: VideoRepository, clock: FakeClock
) -> None:
    """Regression: workers' clocks differ. A running sibling whose worker's clock is behind
    the failed chunk's worker's records an earlier finished_at for its cancel; the family's
    outcome must still be the failure."""
    fast = JobRepository(engine, lease_ttl_s=30.0, max_attempts=3, clock=lambda: clock.now + 5)
    slow = JobRepository(engine, lease_ttl_s=30.0, max_attempts=3, clock=clock)
    parent = split_video(slow, clock)
    audio = claim_part(slow, "w-audio")
    chunk0 = claim_part(fast, "w-fast")
    assert fast.fail_job(chunk0, PERMANENT) is JobState.FAILED
    assert slow.finish_cancelled(audio) is JobState.CANCELLED
    record = slow.get_job(parent.id)
    assert (record.state, record.last_error_code) == (JobState.FAILED, "INVALID_INPUT")
    assert videos.get_video(parent.video_id).status is VideoStatus.FAILED


def test_a_chunk_that_uses_up_its_attempts_fails_the_video_attempts_exhausted(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    audio = claim_part(repo, "w-audio")
    for attempt in (1, 2, 3):
        chunk = claim_part(repo, f"w{attempt}")
        assert chunk.kind is JobKind.CHUNK and chunk.attempt == attempt
        expected = JobState.DEAD if attempt == 3 else JobState.RETRY_WAIT
        assert repo.fail_job(chunk, RETRYABLE, retry_delay_s=5) is expected
        clock.advance(5)
    # The audio is still running: the family waits for it (flagged) before ending.
    assert repo.get_job(parent.id).waiting_on_children
    assert repo.get_job(audio.id).cancel_requested
    assert repo.complete_part(audio, output_of(audio)) is JobState.CANCELLED
    assert repo.get_job(audio.id).result is None, "a cancelled part records no output"
    record = repo.get_job(parent.id)
    assert (record.state, record.last_error_code) == (JobState.DEAD, "ATTEMPTS_EXHAUSTED")
    video = videos.get_video(parent.video_id)
    assert (video.status, video.error_code) == (VideoStatus.FAILED, "ATTEMPTS_EXHAUSTED")
    assert "3 attempts" in (video.error_message or "")
    assert "TRANSCODE_FAILED" in (video.error_message or "")
    assert_family_consistent(repo, parent.id)


def test_a_failed_stitch_fails_the_family(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    for part in claim_all_parts(repo, 2):
        repo.complete_part(part, output_of(part))
    clock.advance(1)
    stitch = claim_part(repo)
    assert stitch.kind is JobKind.STITCH
    gap = Failure("VALIDATION_FAILED", "gap of 0.5 s at chunk boundary 1", retryable=False)
    assert repo.fail_job(stitch, gap) is JobState.FAILED
    video = videos.get_video(parent.video_id)
    assert (video.status, video.error_code) == (VideoStatus.FAILED, "VALIDATION_FAILED")
    assert repo.get_job(parent.id).state is JobState.FAILED
    assert_family_consistent(repo, parent.id)


# -- cancel --------------------------------------------------------------------------------------


def test_cancel_video_stops_every_child_then_cancels_the_video(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    audio = claim_part(repo, "w-audio")
    chunk0 = claim_part(repo, "w-0")
    assert repo.complete_part(audio, output_of(audio)) is JobState.SUCCEEDED

    assert repo.cancel_video(parent.video_id) is JobState.RUNNING
    after = {c.id: c for c in repo.family_parts(parent.id)}
    waiting = [c for c in after.values() if c.kind is JobKind.CHUNK and c.id != chunk0.id]
    assert [c.state for c in waiting] == [JobState.CANCELLED, JobState.CANCELLED]
    assert after[chunk0.id].state is JobState.RUNNING and after[chunk0.id].cancel_requested
    assert after[audio.id].state is JobState.SUCCEEDED
    assert repo.get_job(parent.id).cancel_requested
    assert videos.get_video(parent.video_id).status is VideoStatus.PROCESSING
    # Asking again is harmless and says the cancel is under way.
    assert repo.cancel_video(parent.video_id) is JobState.RUNNING
    assert repo.claim_job("w") is None

    assert repo.renew_lease(chunk0) is True
    assert repo.finish_cancelled(chunk0) is JobState.CANCELLED
    assert repo.get_job(parent.id).state is JobState.CANCELLED
    video = videos.get_video(parent.video_id)
    assert video.status is VideoStatus.CANCELLED and video.error_code is None
    assert_family_consistent(repo, parent.id)


def test_overdue_cancels_name_the_running_child_not_the_waiting_parent(
    repo: JobRepository, clock: FakeClock
) -> None:
    """With an executor that tracks runs (Batch), the scheduler terminates runs that ignore a
    cancel. The waiting parent kept its run's reference but has no run left to terminate."""
    dispatcher = Dispatcher(repo, InMemoryExecutor())
    [parent_id] = queue_jobs(repo, "acme", 1)
    assert dispatcher.dispatch_due()[0] == [parent_id]
    ref = repo.get_job(parent_id).executor_ref
    parent = repo.claim_job_by_id(parent_id, "container-0", ref)
    assert parent is not None and repo.split_job(parent, family_children(1))
    clock.advance(0.001)
    dispatched, _ = dispatcher.dispatch_due()
    assert len(dispatched) == 2
    audio_id = dispatched[0]
    assert repo.claim_job_by_id(audio_id, "container-1", repo.get_job(audio_id).executor_ref)
    assert repo.cancel_video(parent.video_id) is JobState.RUNNING
    record = repo.get_job(parent_id)
    assert record.cancel_requested and record.executor_ref == ref
    clock.advance(120)
    assert [job.id for job in dispatcher.overdue_cancels(grace_s=60)] == [audio_id]


def test_cancel_wins_over_a_late_part(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    parts = claim_all_parts(repo, 2)
    repo.cancel_video(parent.video_id)
    assert repo.complete_part(parts[0], output_of(parts[0])) is JobState.CANCELLED
    assert repo.get_job(parent.id).waiting_on_children
    assert repo.complete_part(parts[1], output_of(parts[1])) is JobState.CANCELLED
    assert all(c.kind is not JobKind.STITCH for c in repo.family_parts(parent.id))
    assert repo.get_job(parent.id).state is JobState.CANCELLED
    assert videos.get_video(parent.video_id).status is VideoStatus.CANCELLED


def test_cancel_of_a_running_stitch_cancels_the_video(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    for part in claim_all_parts(repo, 2):
        repo.complete_part(part, output_of(part))
    clock.advance(1)
    stitch = claim_part(repo)
    repo.cancel_video(parent.video_id)
    assert repo.publish_family(stitch, {"prefix": "late/"}) is JobState.CANCELLED
    assert repo.get_job(parent.id).state is JobState.CANCELLED
    video = videos.get_video(parent.video_id)
    assert video.status is VideoStatus.CANCELLED and video.package is None


def test_a_cancel_whose_family_decision_was_lost_still_wins_over_the_stitch(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: cancel_job flags the parent, then decides for the family in a second
    transaction. A process that dies between the two (or a stitch that completes between
    them) left the stitch unflagged, and publish_family then published a video whose cancel
    had been accepted. A cancel accepted before the result wins, as for a plain job."""
    parent = split_video(repo, clock, chunks=1)
    for part in claim_all_parts(repo, 2):
        repo.complete_part(part, output_of(part))
    clock.advance(1)
    stitch = claim_part(repo)
    with monkeypatch.context() as patch:
        patch.setattr(repo, "advance_family", lambda parent_id: None)  # died in between
        assert repo.cancel_video(parent.video_id) is JobState.RUNNING
    assert not repo.get_job(stitch.id).cancel_requested
    assert repo.publish_family(stitch, {"prefix": "late/"}) is JobState.CANCELLED
    assert repo.get_job(parent.id).state is JobState.CANCELLED
    video = videos.get_video(parent.video_id)
    assert video.status is VideoStatus.CANCELLED and video.package is None
    assert_family_consistent(repo, parent.id)


# -- leases, dead letters, zombies ------------------------------------------------------------


def test_an_expired_child_lease_is_retried_alone_and_counted(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=2)
    audio, chunk0, chunk1 = claim_all_parts(repo, 3)
    clock.advance(20)
    assert repo.renew_lease(audio) is False and repo.renew_lease(chunk1) is False
    clock.advance(15)  # chunk0's worker stopped heartbeating 35 s ago
    assert repo.stale_lease_count() == 1
    [expired] = repo.expire_stale_leases("scanner")
    assert (expired.job_id, expired.state, expired.attempt_count) == (
        chunk0.id,
        JobState.RETRY_WAIT,
        1,
    )
    assert repo.get_job(chunk0.id).last_error_code == "WORKER_LOST"
    assert {c.id: c.state for c in repo.family_parts(parent.id) if c.id != chunk0.id} == {
        audio.id: JobState.RUNNING,
        chunk1.id: JobState.RUNNING,
    }
    assert repo.get_job(parent.id).waiting_on_children

    again = claim_part(repo, "w-new")
    assert again.id == chunk0.id and again.attempt == 2
    assert repo.complete_part(chunk0, output_of(chunk0)) is None, "the lost attempt is fenced"
    for part in (audio, chunk1, again):
        assert repo.complete_part(part, output_of(part)) is JobState.SUCCEEDED
    assert repo.get_job(chunk0.id).result == output_of(again)
    assert sum(c.kind is JobKind.STITCH for c in repo.family_parts(parent.id)) == 1
    assert videos.get_video(parent.video_id).status is VideoStatus.PROCESSING


def test_a_child_lease_expiring_for_the_last_time_fails_the_family(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    audio = claim_part(repo, "w-audio")
    repo.complete_part(audio, output_of(audio))
    for _ in range(3):
        claim_part(repo)
        clock.advance(31)
        repo.expire_stale_leases("scanner")
    record = repo.get_job(parent.id)
    assert (record.state, record.last_error_code) == (JobState.DEAD, "ATTEMPTS_EXHAUSTED")
    video = videos.get_video(parent.video_id)
    assert (video.status, video.error_code) == (VideoStatus.FAILED, "ATTEMPTS_EXHAUSTED")
    assert "WORKER_LOST" in (video.error_message or "")


def test_a_dead_lettered_waiting_child_fails_the_family(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=2)
    audio = claim_part(repo, "w-audio")
    waiting = repo.family_parts(parent.id)[1]
    assert waiting.state is JobState.QUEUED
    assert report_dead_letter(repo, waiting.id)["marked"] == "DEAD"
    family = {c.id: c for c in repo.family_parts(parent.id)}
    assert family[waiting.id].state is JobState.DEAD
    assert [c.state for c in family.values() if c.kind is JobKind.CHUNK][1] is JobState.CANCELLED
    assert family[audio.id].cancel_requested and repo.get_job(parent.id).waiting_on_children

    assert repo.finish_cancelled(audio) is JobState.CANCELLED
    record = repo.get_job(parent.id)
    assert (record.state, record.last_error_code) == (JobState.DEAD, "DEAD_LETTERED")
    video = videos.get_video(parent.video_id)
    assert (video.status, video.error_code) == (VideoStatus.FAILED, "DEAD_LETTERED")
    assert_family_consistent(repo, parent.id)


def test_a_dead_letter_report_for_a_waiting_parent_only_alerts(
    repo: JobRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    assert report_dead_letter(repo, parent.id)["skipped"] == "running_alert_only"
    assert repo.get_job(parent.id).waiting_on_children
    assert all(c.state is JobState.QUEUED for c in repo.family_parts(parent.id))


def test_a_zombie_part_cannot_complete_or_fail(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    zombie = claim_part(repo, "w-zombie")
    clock.advance(31)
    repo.expire_stale_leases("scanner")
    fresh = claim_part(repo, "w-fresh")
    assert fresh.id == zombie.id and fresh.lease_token != zombie.lease_token
    before = repo.get_job(zombie.id)
    events_before = repo.job_events(zombie.id)

    assert repo.complete_part(zombie, {"prefix": "zombie/"}) is None
    assert repo.fail_job(zombie, PERMANENT) is None
    assert repo.renew_lease(zombie) is None
    assert repo.get_job(zombie.id) == before
    assert repo.job_events(zombie.id) == events_before
    assert repo.get_job(parent.id).waiting_on_children

    assert repo.complete_part(fresh, output_of(fresh)) is JobState.SUCCEEDED
    assert repo.get_job(fresh.id).result == output_of(fresh)


def test_a_zombie_parent_cannot_split_twice(repo: JobRepository, clock: FakeClock) -> None:
    parent = split_video(repo, clock, chunks=1)
    assert repo.split_job(parent, family_children(1)) is False
    assert len(repo.family_parts(parent.id)) == 2
    with pytest.raises(ValueError):
        repo.split_job(parent, [])


def test_a_zombie_stitch_cannot_publish(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    for part in claim_all_parts(repo, 2):
        repo.complete_part(part, output_of(part))
    clock.advance(1)
    zombie = claim_part(repo, "w-zombie")
    clock.advance(31)
    [expired] = repo.expire_stale_leases("scanner")
    assert expired.job_id == zombie.id and expired.state is JobState.RETRY_WAIT
    fresh = claim_part(repo, "w-fresh")
    assert repo.publish_family(zombie, {"prefix": "zombie/"}) is None
    assert videos.get_video(parent.video_id).status is VideoStatus.PROCESSING
    assert repo.publish_family(fresh, {"prefix": "fresh/"}) is JobState.SUCCEEDED
    assert videos.get_video(parent.video_id).package == {"prefix": "fresh/"}


# -- concurrency --------------------------------------------------------------------------------


@pytest.mark.parametrize("round_no", range(4))
def test_parts_completing_at_once_start_exactly_one_stitch(
    engine: Engine, clock: FakeClock, database_url: str, round_no: int
) -> None:
    repo = JobRepository(engine, lease_ttl_s=30.0, max_attempts=3, clock=clock)
    parent = split_video(repo, clock, chunks=7)
    parts = claim_all_parts(repo, 8)
    start = threading.Barrier(len(parts))
    results: dict[str, JobState | None] = {}
    errors: list[Exception] = []

    def finish(part: ClaimedJob) -> None:
        start.wait()
        try:
            results[part.id] = repo.complete_part(part, output_of(part))
        except Exception as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert set(results.values()) == {JobState.SUCCEEDED}
    stitches = [c for c in repo.family_parts(parent.id) if c.kind is JobKind.STITCH]
    assert len(stitches) == 1
    assert repo.get_job(parent.id).waiting_on_children


def test_a_failure_and_completions_at_once_end_the_family_once(
    engine: Engine, clock: FakeClock, videos: VideoRepository
) -> None:
    repo = JobRepository(engine, lease_ttl_s=30.0, max_attempts=3, clock=clock)
    parent = split_video(repo, clock, chunks=5)
    parts = claim_all_parts(repo, 6)
    start = threading.Barrier(len(parts))
    errors: list[Exception] = []

    def finish(part: ClaimedJob, fail: bool) -> None:
        start.wait()
        try:
            if fail:
                repo.fail_job(part, PERMANENT)
            else:
                repo.complete_part(part, output_of(part))
        except Exception as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(part, n == 3)) for n, part in enumerate(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert live_children(repo, parent.id) == []
    assert all(c.kind is not JobKind.STITCH for c in repo.family_parts(parent.id))
    assert repo.get_job(parent.id).state is JobState.FAILED
    assert videos.get_video(parent.video_id).error_code == "INVALID_INPUT"
    assert_family_consistent(repo, parent.id)


# -- the scheduler's safety net ----------------------------------------------------------------


def test_advance_families_finishes_a_decision_a_crash_skipped(
    repo: JobRepository, videos: VideoRepository, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """fail_job commits the child, then decides for its family in a second transaction; a
    worker that dies in between leaves the parent waiting on a family that has failed."""
    parent = split_video(repo, clock, chunks=2)
    chunk = claim_all_parts(repo, 2)[1]
    with monkeypatch.context() as patch:
        patch.setattr(repo, "advance_family", lambda parent_id: None)  # died in between
        assert repo.fail_job(chunk, PERMANENT) is JobState.FAILED
    assert len(live_children(repo, parent.id)) == 2  # the running audio, the waiting chunk
    assert repo.waiting_families() == [parent.id]

    scheduler = Scheduler(repo, Dispatcher(repo, InMemoryExecutor()), scanner_id="s")
    scheduler.advance_families()
    family = repo.family_parts(parent.id)
    assert [c.state for c in family] == [JobState.RUNNING, JobState.FAILED, JobState.CANCELLED]
    assert family[0].cancel_requested
    assert repo.get_job(parent.id).waiting_on_children

    # Deciding again and again changes nothing more: no new event on any job of the video.
    events = videos.video_events(parent.video_id)
    for _ in range(3):
        scheduler.advance_families()
        repo.advance_family(parent.id)
    assert videos.video_events(parent.video_id) == events


def test_advance_families_starts_a_stitch_a_crash_skipped(
    repo: JobRepository, videos: VideoRepository, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, chunks=1)
    audio, chunk = claim_all_parts(repo, 2)
    repo.complete_part(audio, output_of(audio))
    with monkeypatch.context() as patch:
        # complete_part decides in its own transaction, so no crash can skip this decision;
        # skipping it by hand leaves the state a lost decision would, for the sweep to find.
        patch.setattr(repo, "_advance", lambda conn, parent_id: False)
        assert repo.complete_part(chunk, output_of(chunk)) is JobState.SUCCEEDED
    assert all(c.kind is not JobKind.STITCH for c in repo.family_parts(parent.id))
    scheduler = Scheduler(repo, Dispatcher(repo, InMemoryExecutor()), scanner_id="s")
    for _ in range(3):
        scheduler.advance_families()
    assert sum(c.kind is JobKind.STITCH for c in repo.family_parts(parent.id)) == 1


def test_advance_family_ignores_jobs_that_are_not_waiting_parents(
    repo: JobRepository, videos: VideoRepository
) -> None:
    [plain] = queue_jobs(repo, "acme", 1)
    repo.advance_family(plain)
    repo.advance_family(None)
    repo.advance_family("00000000-0000-0000-0000-000000000000")
    job = repo.claim_job("w")
    assert job is not None and job.id == plain
    repo.advance_family(plain)  # running with its own lease: not a waiting parent
    assert repo.get_job(plain).state is JobState.RUNNING
    assert repo.complete_job(job, {"prefix": "p/"}) is JobState.SUCCEEDED
    assert [e.to_state for e in repo.job_events(plain)] == [
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]


# -- backlog and fairness ------------------------------------------------------------------------


def test_backlog_counts_the_children_not_the_waiting_parent(
    repo: JobRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    assert repo.backlog().to_json() == {"queued": 4, "retry_wait": 0, "backlog": 4, "running": 0}
    claim_part(repo)
    assert repo.backlog().to_json() == {"queued": 3, "retry_wait": 0, "backlog": 3, "running": 1}
    assert repo.get_job(parent.id).state is JobState.RUNNING


def test_a_small_tenant_is_claimed_before_a_split_family_drains(
    repo: JobRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock, tenant="tenant-a", chunks=6)
    clock.advance(1)
    [small] = queue_jobs(repo, "tenant-b", 1)
    first = repo.claim_job("worker-1")
    second = repo.claim_job("worker-2")
    assert first is not None and second is not None
    assert small in (first.id, second.id)
    other = first if second.id == small else second
    assert other.parent_id == parent.id


def test_a_waiting_parent_does_not_count_as_its_tenant_running_job(
    repo: JobRepository, clock: FakeClock
) -> None:
    """Regression: fair claiming counted a waiting parent as one of its tenant's running jobs,
    so a tenant with chunked videos waited behind tenants actually running more. Here each
    tenant runs one job; tenant A's chunk was queued first, so it goes first."""
    parent = split_video(repo, clock, tenant="tenant-a", chunks=2)
    claim_part(repo, "w-a")  # tenant A runs its audio job
    tenant_b = ensure_tenant(repo, "tenant-b")
    b_ids = []
    for n in range(2):
        clock.advance(1)
        b_ids.append(
            repo.create_video_and_job(tenant_b.id, f"b{n}", source_key="k", source_bytes=1)[1]
        )
    b_job = repo.claim_job("w-b")
    assert b_job is not None and b_job.id == b_ids[0]
    nxt = repo.claim_job("w")
    assert nxt is not None and nxt.parent_id == parent.id, "A's older chunk goes first"


def test_fair_claiming_counts_a_tenants_running_chunks(
    repo: JobRepository, clock: FakeClock
) -> None:
    split_video(repo, clock, tenant="tenant-a", chunks=3)
    claim_part(repo, "w1")
    claim_part(repo, "w2")
    clock.advance(1)
    tenant_b = ensure_tenant(repo, "tenant-b")
    _, b_job = repo.create_video_and_job(tenant_b.id, "b", source_key="k", source_bytes=1)
    nxt = repo.claim_job("w3")
    assert nxt is not None and nxt.id == b_job


def test_family_progress_weighs_each_chunk_by_its_span(
    repo: JobRepository, clock: FakeClock
) -> None:
    parent = split_video(repo, clock)
    audio, chunk0, chunk1 = claim_all_parts(repo, 3)
    repo.complete_part(chunk0, output_of(chunk0))
    reports = {chunk1.id: {"percent": 50.0, "eta_s": 12.0}}
    progress = family_progress(repo.family_parts(parent.id), reports.get)
    # chunk 0 whole (60 s) + half of chunk 1 (30 s) of 180 s; chunk 2 still waits, so no ETA.
    assert progress == {
        "percent": 50.0,
        "stage": "transcode",
        "eta_s": None,
        "chunks": {"total": 3, "done": 1, "running": 1},
    }
    chunk2 = claim_part(repo)
    reports[chunk2.id] = {"percent": 100.0, "eta_s": 0.0}
    progress = family_progress(repo.family_parts(parent.id), reports.get)
    assert progress["eta_s"] == 12.0 and progress["chunks"]["running"] == 2
    for part in (audio, chunk1, chunk2):
        repo.complete_part(part, output_of(part))
    progress = family_progress(repo.family_parts(parent.id), reports.get)
    assert progress["stage"] == "upload" and progress["percent"] == 99.9


# -- through the worker's runner ------------------------------------------------------------------


class FamilyWork:
    """A fake chunked pipeline: a video's job splits, each part records its output, and the
    stitch publishes a package naming every part's output, read from the family."""

    def __init__(self, repo: JobRepository, chunks: int = 3, fail_chunk: int | None = None):
        self.repo = repo
        self.chunks = chunks
        self.fail_chunk = fail_chunk
        self.ran: list[tuple[JobKind, int]] = []

    def __call__(self, ctx: JobContext) -> WorkResult:
        job = ctx.job
        self.ran.append((job.kind, job.attempt))
        if job.kind is JobKind.TRANSCODE:
            return WorkResult(children=tuple(family_children(self.chunks)))
        if job.kind is JobKind.STITCH:
            assert job.parent_id is not None
            parts = [p for p in self.repo.family_parts(job.parent_id) if p.kind is not job.kind]
            outputs = [p.result["prefix"] for p in parts if p.result is not None]
            return WorkResult(package={"prefix": f"videos/{job.video_id}/", "parts": outputs})
        spec = job.spec or {}
        if job.kind is JobKind.CHUNK and spec.get("index") == self.fail_chunk:
            raise InputRejected(f"chunk {spec['index']} is not decodable")
        (ctx.scratch_dir / "part.m4s").write_bytes(b"x")
        return WorkResult(output={"prefix": f"parts/{job.id}/{job.attempt}/"})


def make_runner(repo: JobRepository, work: FamilyWork, root: Path) -> JobRunner:
    def context(job, stop, scratch):  # type: ignore[no-untyped-def]
        return JobContext(job=job, stop=stop, scratch_dir=scratch, deps=None)  # type: ignore[arg-type]

    return JobRunner(
        repo,
        work,
        context,  # type: ignore[arg-type]
        heartbeat_s=5.0,
        lease_ttl_s=30.0,
        retry_policy=RetryPolicy(base_s=10),
        scratch_root=root,
    )


def drain(repo: JobRepository, runner: JobRunner, clock: FakeClock) -> list[JobState | None]:
    """Claim and run jobs until none is left, as one worker would."""
    states: list[JobState | None] = []
    for _ in range(50):
        clock.advance(1)
        job = repo.claim_job("worker")
        if job is None:
            return states
        states.append(runner.run(job, StopToken()).state)
    raise AssertionError("the family never settled")


def test_the_runner_splits_runs_every_part_and_publishes(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock, tmp_path: Path
) -> None:
    [parent_id] = queue_jobs(repo, "acme", 1)
    work = FamilyWork(repo)
    states_seen = drain(repo, make_runner(repo, work, tmp_path / "scratch"), clock)
    assert states_seen == [JobState.RUNNING] + [JobState.SUCCEEDED] * 5
    assert [kind for kind, _ in work.ran] == [JobKind.TRANSCODE, *PARTS, JobKind.STITCH]
    video = videos.get_video(repo.get_job(parent_id).video_id)
    assert video.status is VideoStatus.READY
    assert video.package is not None
    parts = repo.family_parts(parent_id)
    assert video.package["parts"] == [f"parts/{p.id}/1/" for p in parts if p.kind in PARTS]
    assert len(video.package["parts"]) == 4
    assert repo.get_job(parent_id).state is JobState.SUCCEEDED
    assert list((tmp_path / "scratch").glob("*/*")) == [], "every attempt's scratch is gone"
    assert_family_consistent(repo, parent_id)


def test_the_runner_fails_the_family_on_a_rejected_chunk(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock, tmp_path: Path
) -> None:
    [parent_id] = queue_jobs(repo, "acme", 1)
    work = FamilyWork(repo, fail_chunk=1)
    drain(repo, make_runner(repo, work, tmp_path / "scratch"), clock)
    # The split, the audio, chunk 0, then chunk 1 is rejected: chunk 2 never runs.
    assert [kind for kind, _ in work.ran] == [JobKind.TRANSCODE, *PARTS[:3]]
    video = videos.get_video(repo.get_job(parent_id).video_id)
    assert (video.status, video.error_code) == (VideoStatus.FAILED, "INVALID_INPUT")
    assert [c.state for c in repo.family_parts(parent_id)] == [
        JobState.SUCCEEDED,
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
    ]
    assert_family_consistent(repo, parent_id)


def test_a_cancel_that_arrives_while_the_parent_plans_wins_over_the_split(
    repo: JobRepository, videos: VideoRepository, clock: FakeClock, tmp_path: Path
) -> None:
    """Regression: the cancel lands after the parent's last heartbeat, before its split. The
    split is refused; the job was left RUNNING (until its lease expired) and the runner
    reported a lost lease (run-job exited 1). It ends CANCELLED at once, as a late result."""
    [parent_id] = queue_jobs(repo, "acme", 1)
    work = FamilyWork(repo)

    def cancel_then_split(ctx: JobContext) -> WorkResult:
        repo.cancel_video(ctx.job.video_id)
        return work(ctx)

    runner = make_runner(repo, work, tmp_path / "scratch")
    runner.work = cancel_then_split
    job = repo.claim_job("w")
    assert job is not None
    outcome = runner.run(job, StopToken())
    assert repo.family_parts(parent_id) == []
    assert outcome.state is JobState.CANCELLED
    assert repo.get_job(parent_id).state is JobState.CANCELLED
    assert videos.get_video(job.video_id).status is VideoStatus.CANCELLED


def test_a_fenced_out_split_writes_nothing(
    repo: JobRepository, clock: FakeClock, tmp_path: Path
) -> None:
    [parent_id] = queue_jobs(repo, "acme", 1)
    work = FamilyWork(repo)

    def outlived_by_its_lease(ctx: JobContext) -> WorkResult:
        clock.advance(31)  # the heartbeat never ran: the scanner gives the job to another
        repo.expire_stale_leases("scanner")
        assert repo.claim_job("w-2") is not None
        return work(ctx)

    runner = make_runner(repo, work, tmp_path / "scratch")
    runner.work = outlived_by_its_lease
    job = repo.claim_job("w-1")
    assert job is not None
    outcome = runner.run(job, StopToken())
    assert (outcome.state, outcome.lease_lost) == (None, True)
    assert repo.family_parts(parent_id) == []
    record = repo.get_job(parent_id)
    assert record.state is JobState.RUNNING and record.leased_by == "w-2"
