"""The storage sweep on a real database: which attempt prefixes it removes and which it keeps."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from tests.conftest import FakeClock
from tests.support.factories import queue_jobs
from tests.support.videos import sample_package
from vodforge.domain.states import JobKind, JobState
from vodforge.jobs.family import NewChild
from vodforge.jobs.records import ClaimedJob
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.operations.sweep import AttemptSweep, referenced_attempts
from vodforge.storage.base import attempt_prefix, source_key
from vodforge.storage.memory import MemoryStorage

GRACE_S = 3600.0


def write_attempt(storage: MemoryStorage, job: ClaimedJob) -> str:
    prefix = attempt_prefix(job.video_id, job.id, job.attempt)
    for name in ("master.m3u8", "720p/index.m3u8", "720p/seg_00001.m4s", "poster.jpg"):
        storage.put_bytes(prefix + name, b"x")
    return prefix


def claim(repo: JobRepository, job_id: str) -> ClaimedJob:
    job = repo.claim_job_by_id(job_id, "worker:h:1:aa/0")
    assert job is not None
    return job


def test_sweeps_only_unowned_attempts_past_the_grace_age(
    engine: Engine, repo: JobRepository, clock: FakeClock
) -> None:
    storage = MemoryStorage(clock=clock)
    published_id, running_id, retrying_id, fresh_id = queue_jobs(repo, "acme", 4)

    # Published on its second attempt; the first attempt died mid-upload and left files.
    first = claim(repo, published_id)
    killed_upload = write_attempt(storage, first)
    repo.fail_job(first, Failure("INTERNAL_ERROR", "killed", retryable=True))
    second = claim(repo, published_id)
    published = write_attempt(storage, second)
    repo.complete_job(second, sample_package(second.video_id, second.id, second.attempt))
    storage.put_bytes(source_key(second.video_id, "mp4"), b"source")

    # RUNNING now: neither its attempt nor an older one of the same job is judged mid-flight.
    running = claim(repo, running_id)
    running_files = write_attempt(storage, running)

    # Waiting to retry: its failed attempt will never be published (the retry writes anew).
    retrying = claim(repo, retrying_id)
    retry_leftover = write_attempt(storage, retrying)
    repo.fail_job(retrying, Failure("STORAGE_ERROR", "flaky", retryable=True), retry_delay_s=60)

    # No owner at all: the video and job rows are gone (a purge raced a zombie's upload).
    ghost = attempt_prefix(str(uuid.uuid4()), str(uuid.uuid4()), 1)
    storage.put_bytes(ghost + "master.m3u8", b"x")
    # Not vodforge's layout: never touched.
    storage.put_bytes("videos/not-a-uuid/attempts/something-1/file", b"x")

    clock.advance(GRACE_S)
    # Unowned but written just now: an upload in progress, kept.
    fresh = claim(repo, fresh_id)
    fresh_upload = write_attempt(storage, fresh)
    repo.fail_job(fresh, Failure("INTERNAL_ERROR", "lost", retryable=True))

    before = set(storage.list_keys(""))
    swept = AttemptSweep(engine, storage, grace_s=GRACE_S, clock=clock).sweep()

    assert sorted(swept) == sorted([killed_upload, retry_leftover, ghost])
    remaining = set(storage.list_keys(""))
    assert remaining == {key for key in before if not key.startswith(tuple(swept))}
    for kept in (published, running_files, fresh_upload):
        assert storage.list_keys(kept), kept
    assert storage.exists(source_key(second.video_id, "mp4"))
    assert storage.exists("videos/not-a-uuid/attempts/something-1/file")


def test_a_package_that_reuses_other_attempts_files_keeps_them(
    engine: Engine, repo: JobRepository, clock: FakeClock
) -> None:
    storage = MemoryStorage(clock=clock)
    (job_id,) = queue_jobs(repo, "acme", 1)
    job = claim(repo, job_id)
    own = write_attempt(storage, job)
    # A stitched package (chunked encoding) points at segments under another attempt prefix.
    chunk = attempt_prefix(job.video_id, str(uuid.uuid4()), 1)
    storage.put_bytes(chunk + "720p/seg_00001.m4s", b"x")
    package = sample_package(job.video_id, job.id, job.attempt)
    package["renditions"][0]["segments"] = [chunk + "720p/seg_00001.m4s"]
    repo.complete_job(job, package)
    assert referenced_attempts(package) == {own, chunk}
    clock.advance(GRACE_S * 2)
    assert AttemptSweep(engine, storage, grace_s=GRACE_S, clock=clock).sweep() == []


def test_maybe_sweep_paces_itself(engine: Engine, clock: FakeClock) -> None:
    storage = MemoryStorage(clock=clock)
    sweep = AttemptSweep(engine, storage, grace_s=0, every_s=600, clock=clock)
    ghost = attempt_prefix(str(uuid.uuid4()), str(uuid.uuid4()), 2)
    assert sweep.maybe_sweep() == []  # the first call sweeps (nothing there yet)
    storage.put_bytes(ghost + "a", b"x")
    clock.advance(599)
    assert sweep.maybe_sweep() == []  # not due
    clock.advance(1)
    assert sweep.maybe_sweep() == [ghost]


def test_a_finished_part_is_kept_until_its_family_ends(
    engine: Engine, repo: JobRepository, clock: FakeClock
) -> None:
    """A SUCCEEDED chunk's segments wait for the stitch that copies them, however long the
    family takes (regression: a stitch retrying through a storage outage found its parts
    swept, and the video FAILED with NOT_FOUND). Once the family has ended they go."""
    storage = MemoryStorage(clock=clock)
    queue_jobs(repo, "acme", 1)
    parent = repo.claim_job("splitter")
    assert parent is not None
    assert repo.split_job(parent, [NewChild(JobKind.AUDIO), NewChild(JobKind.CHUNK)])
    clock.advance(0.001)
    part = repo.claim_job("w")
    assert part is not None and part.parent_id == parent.id
    parts = write_attempt(storage, part)
    assert repo.complete_part(part, {"prefix": parts}) is JobState.SUCCEEDED

    clock.advance(GRACE_S * 2)
    sweep = AttemptSweep(engine, storage, grace_s=GRACE_S, clock=clock)
    assert sweep.sweep() == []  # the parent still RUNNING: the stitch has yet to copy them

    repo.cancel_video(parent.video_id, actor="test")
    assert sweep.sweep() == [parts]
