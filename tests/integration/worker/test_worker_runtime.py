"""The worker runtime in-process: heartbeats, cancel and lease loss stop a real child process,
graceful shutdown releases, and wake-ups reach an idle worker without polling."""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from tests.support.factories import queue_jobs
from tests.support.procs import pid_alive
from vodforge.db.tables import jobs
from vodforge.domain.retry import RetryPolicy
from vodforge.domain.states import JobState, VideoStatus
from vodforge.errors import ErrorCode, InputRejected, RetryableError
from vodforge.jobs.repository import JobRepository
from vodforge.pipeline.context import JobContext, WorkResult
from vodforge.process import StopToken, run_child
from vodforge.videos.repository import VideoRepository
from vodforge.worker import runner as runner_module
from vodforge.worker.runner import JobRunner
from vodforge.worker.runtime import Worker


class ChildWork:
    """Runs a sleeping child in its own process group and records its pid."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds
        self.pids: list[int] = []
        self.started = threading.Event()

    def __call__(self, ctx: JobContext) -> WorkResult:
        marker = ctx.scratch_dir / "child.pid"
        code = (
            f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
            f"time.sleep({self.seconds})"
        )
        watcher = threading.Thread(target=self._watch, args=(marker,), daemon=True)
        watcher.start()
        result = run_child([sys.executable, "-c", code], stop=ctx.stop, grace_s=5)
        if result.returncode != 0 and not result.stopped:
            raise RetryableError(f"child exited {result.returncode}")
        return WorkResult(package={"prefix": f"{ctx.job.id}/"})

    def _watch(self, marker: Path) -> None:
        for _ in range(200):
            if marker.exists() and marker.read_text():
                self.pids.append(int(marker.read_text()))
                self.started.set()
                return
            time.sleep(0.02)


def make_runner(repo: JobRepository, work: object, tmp_path: Path) -> JobRunner:
    def context(job, stop, scratch):  # type: ignore[no-untyped-def]
        return JobContext(job=job, stop=stop, scratch_dir=scratch, deps=None)  # type: ignore[arg-type]

    return JobRunner(
        repo,
        work,
        context,  # type: ignore[arg-type]
        heartbeat_s=0.2,
        lease_ttl_s=2.0,
        retry_policy=RetryPolicy(base_s=10),
        scratch_root=tmp_path / "scratch",
    )


def real_repo(engine: Engine) -> JobRepository:
    return JobRepository(engine, lease_ttl_s=2.0, max_attempts=3)


def run_in_thread(runner: JobRunner, repo: JobRepository, stop: StopToken):  # type: ignore[no-untyped-def]
    job = repo.claim_job("w")
    assert job is not None
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(runner.run(job, stop)))
    thread.start()
    return job, thread, outcome


def test_success_completes_and_heartbeats(
    engine: Engine, videos: VideoRepository, tmp_path: Path
) -> None:
    repo = real_repo(engine)
    queue_jobs(repo, "acme", 1)
    work = ChildWork(seconds=1.0)
    job, thread, outcome = run_in_thread(make_runner(repo, work, tmp_path), repo, StopToken())
    thread.join(10)
    assert outcome[0].state is JobState.SUCCEEDED  # type: ignore[attr-defined]
    record = repo.get_job(job.id)
    assert record.last_heartbeat_at is not None and record.last_heartbeat_at > record.created_at
    assert videos.get_video(job.video_id).status is VideoStatus.READY


def test_cancel_stops_the_child_and_cancels(
    engine: Engine, videos: VideoRepository, tmp_path: Path
) -> None:
    repo = real_repo(engine)
    queue_jobs(repo, "acme", 1)
    work = ChildWork()
    job, thread, outcome = run_in_thread(make_runner(repo, work, tmp_path), repo, StopToken())
    assert work.started.wait(10)
    repo.cancel_video(job.video_id)
    thread.join(0.2 + 15 + 2)
    assert not thread.is_alive()
    assert not pid_alive(work.pids[0])
    assert outcome[0].state is JobState.CANCELLED  # type: ignore[attr-defined]
    assert videos.get_video(job.video_id).status is VideoStatus.CANCELLED


def test_lost_lease_stops_the_child_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    repo = real_repo(engine)
    queue_jobs(repo, "acme", 1)
    work = ChildWork()
    job, thread, outcome = run_in_thread(make_runner(repo, work, tmp_path), repo, StopToken())
    assert work.started.wait(10)
    # Another claimer took the job over (as after a scanner expiry and a re-claim).
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job.id).values(lease_token="stolen"))
    thread.join(0.2 + 15 + 2)
    assert not thread.is_alive()
    assert not pid_alive(work.pids[0])
    assert outcome[0].lease_lost  # type: ignore[attr-defined]
    record = repo.get_job(job.id)
    assert record.state is JobState.RUNNING and record.lease_token == "stolen"


def test_failures_are_classified(engine: Engine, videos: VideoRepository, tmp_path: Path) -> None:
    repo = real_repo(engine)

    def rejects(ctx: JobContext) -> WorkResult:
        raise InputRejected("not a video")

    def crashes(ctx: JobContext) -> WorkResult:
        raise RuntimeError("a bug")

    def fills_the_disk(ctx: JobContext) -> WorkResult:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/scratch/job/source.mp4")

    cases = (
        (rejects, JobState.FAILED, "INVALID_INPUT"),
        (crashes, JobState.RETRY_WAIT, "INTERNAL_ERROR"),
        (fills_the_disk, JobState.RETRY_WAIT, "DISK_FULL"),
    )
    queue_jobs(repo, "acme", len(cases))
    for work, expected, code in cases:
        job = repo.claim_job("w")
        assert job is not None
        outcome = make_runner(repo, work, tmp_path).run(job, StopToken())
        assert outcome.state is expected
        assert outcome.failure is not None and outcome.failure.code == code, outcome
        assert repo.get_job(job.id).attempt_count == 1
    assert outcome.failure.message == "no space left on device writing /scratch/job/source.mp4"
    failed = [v for v in videos.list_videos() if v.status is VideoStatus.FAILED]
    assert [v.error_code for v in failed] == ["INVALID_INPUT"]


def test_an_invalid_output_on_a_full_scratch_disk_is_disk_full(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ffmpeg can leave an empty playlist on a full disk and exit 0: the validator's
    OUTPUT_INVALID is then named for its cause, judged before the scratch is removed."""
    repo = real_repo(engine)
    queue_jobs(repo, "acme", 2)
    seen: list[Path] = []

    def invalid(ctx: JobContext) -> WorkResult:
        (ctx.scratch_dir / "master.m3u8").write_bytes(b"")
        raise RetryableError("output invalid: master.m3u8: empty", code=ErrorCode.OUTPUT_INVALID)

    free_now = [64 * 1024, 1 << 30]

    def free(path: Path) -> int:
        seen.append(path)
        assert path.exists(), "judged after the attempt's files were removed"
        return free_now.pop(0)

    monkeypatch.setattr(runner_module, "free_bytes", free)
    codes = []
    for _ in range(2):
        job = repo.claim_job("w")
        assert job is not None
        outcome = make_runner(repo, invalid, tmp_path).run(job, StopToken())
        assert outcome.state is JobState.RETRY_WAIT and outcome.failure is not None
        codes.append((outcome.failure.code, outcome.failure.message))
    assert codes == [
        ("DISK_FULL", "output invalid: master.m3u8: empty (64 KiB free on the scratch disk)"),
        ("OUTPUT_INVALID", "output invalid: master.m3u8: empty"),
    ]
    assert len(seen) == 2


def test_worker_wakes_on_new_job_and_shuts_down_gracefully(engine: Engine, tmp_path: Path) -> None:
    repo = real_repo(engine)
    work = ChildWork()
    # A long poll interval: only the wake-up signal can make the claim fast.
    worker = Worker(repo, make_runner(repo, work, tmp_path), concurrency=2, poll_interval_s=30)
    worker.start()
    try:
        time.sleep(0.3)
        queued_at = time.monotonic()
        [job_id] = queue_jobs(repo, "acme", 1)
        assert work.started.wait(10)
        events = repo.job_events(job_id)
        claim_latency = events[1].at - events[0].at
        assert events[1].to_state is JobState.RUNNING
        assert claim_latency < 1.0, claim_latency
        assert time.monotonic() - queued_at < 10
    finally:
        worker.request_shutdown()
        assert worker.join(timeout=20)
    assert not pid_alive(work.pids[0])
    job = repo.get_job(job_id)
    assert job.state is JobState.QUEUED and job.attempt_count == 0
    assert any(e.reason == "released: worker shutting down" for e in repo.job_events(job_id))
