"""One job through the real pipeline in-process: submit, claim, run with real ffmpeg, and
the states, package, progress and errors the database and storage end up with."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.pipeline import (
    pipeline_components,
    pipeline_settings,
    scratch_dir_of,
    submit_clip,
)
from tests.support.procs import live_processes_mentioning
from vodforge.cli.runtime import build_runner
from vodforge.db.tables import jobs, video_progress
from vodforge.domain.states import JobState, VideoStatus
from vodforge.errors import ErrorCode
from vodforge.process import StopToken
from vodforge.storage.base import attempt_prefix, video_prefix

pytestmark = pytest.mark.slow

MASTER_TAGS = (
    "#EXT-X-INDEPENDENT-SEGMENTS",
    "BANDWIDTH=",
    "AVERAGE-BANDWIDTH=",
    "RESOLUTION=854x480",
    "CODECS=",
    "FRAME-RATE=",
)


def test_a_clip_becomes_a_published_hls_package(
    database_url: str, tmp_path: Path, short_clip: Path
) -> None:
    settings = pipeline_settings(database_url, tmp_path / "data")
    with pipeline_components(settings) as (components, telemetry):
        video = submit_clip(components, short_clip, "lesson 1")
        assert video.status is VideoStatus.UPLOADED
        assert video.current_job_id is not None
        job = components.repo.claim_job_by_id(video.current_job_id, "test-worker")
        assert job is not None and job.attempt == 1

        outcome = build_runner(components).run(job, StopToken())

        assert outcome.state is JobState.SUCCEEDED, outcome.failure
        assert not outcome.lease_lost and outcome.failure is None
        record = components.repo.get_job(job.id)
        assert record.state is JobState.SUCCEEDED
        assert record.attempt_count == 1 and record.lease_token is None
        assert record.finished_at is not None
        ready = components.videos_repo.get_video(video.id)
        assert ready.status is VideoStatus.READY
        assert ready.error_code is None
        assert (ready.width, ready.height) == (854, 480)
        assert ready.duration_s == pytest.approx(2.0, abs=0.2)

        # The package lives under this attempt's own prefix, and the video points at it.
        prefix = attempt_prefix(video.id, job.id, job.attempt)
        assert prefix == f"videos/{video.id}/attempts/{job.id}-1/"
        package = ready.package
        assert package is not None and package["prefix"] == prefix
        assert package["master"] == prefix + "master.m3u8"
        keys = set(components.storage.list_keys(prefix))
        assert {package["master"], package["poster"], package["thumbnail"]} <= keys
        renditions = package["renditions"]
        assert [(r["name"], r["width"], r["height"]) for r in renditions] == [
            ("480p", 854, 480),
            ("360p", 640, 360),
        ]
        for rendition in renditions:
            assert rendition["bandwidth"] > 0 and rendition["average_bandwidth"] > 0
            assert rendition["playlist"] in keys
            segments = [k for k in keys if k.startswith(f"{prefix}{rendition['name']}/")]
            assert any(k.endswith(".m4s") for k in segments)
        master = components.storage.read_bytes(package["master"]).decode()
        assert master.startswith("#EXTM3U")
        for tag in MASTER_TAGS:
            assert tag in master
        assert components.storage.read_bytes(package["poster"])[:2] == b"\xff\xd8"
        # Nothing but the source and this one attempt is stored for the video.
        everything = set(components.storage.list_keys(video_prefix(video.id)))
        assert everything == keys | {ready.source_key}

        events = [(e.from_state, e.to_state) for e in components.repo.job_events(job.id)]
        assert events == [
            (None, JobState.QUEUED),
            (JobState.QUEUED, JobState.RUNNING),
            (JobState.RUNNING, JobState.SUCCEEDED),
        ]

        # Live progress went to telemetry, stage by stage, and never to the jobs table.
        assert telemetry.stages == ["probe", "transcode", "validate", "upload"]
        transcode = [p for p in telemetry.progress if p["stage"] == "transcode"]
        assert max(float(p["percent"]) for p in transcode) == pytest.approx(100.0, abs=1.0)
        stored = components.telemetry.read_progress(job.tenant_id, video.id)
        assert stored is not None and stored["stage"] == "upload"
        with components.engine.connect() as conn:
            row = conn.execute(
                select(video_progress.c.payload).where(video_progress.c.video_id == video.id)
            ).scalar()
        assert row is not None and '"stage":"upload"' in row
        columns = [column.name for column in jobs.columns]
        assert "state" in columns
        assert not [c for c in columns if any(w in c for w in ("progress", "percent", "stage"))]

        # The attempt's scratch space is gone, and so is every process that used it.
        scratch = scratch_dir_of(settings, job)
        assert not scratch.exists()
        assert live_processes_mentioning(str(scratch)) == []


def hls_playlist(target: Path) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
        f"#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n"
    )


@pytest.mark.parametrize(
    ("kind", "code"),
    [("text", ErrorCode.INVALID_INPUT), ("hls-playlist", ErrorCode.UNSUPPORTED_FORMAT)],
)
def test_a_hostile_upload_fails_permanently_without_retry(
    database_url: str, tmp_path: Path, short_clip: Path, kind: str, code: ErrorCode
) -> None:
    upload = tmp_path / "upload.mp4"
    if kind == "text":
        upload.write_text("these are my lecture notes, not a video\n" * 40)
    else:
        # The playlist names a real local video: it must be refused, not followed.
        upload.write_text(hls_playlist(short_clip))
    settings = pipeline_settings(database_url, tmp_path / "data")
    with pipeline_components(settings) as (components, telemetry):
        video = submit_clip(components, upload)
        assert video.current_job_id is not None
        job = components.repo.claim_job_by_id(video.current_job_id, "test-worker")
        assert job is not None

        started = time.monotonic()
        outcome = build_runner(components).run(job, StopToken())
        assert time.monotonic() - started < 15

        assert outcome.state is JobState.FAILED
        assert outcome.failure is not None and not outcome.failure.retryable
        assert outcome.failure.code == code.value
        assert "\n" not in outcome.failure.message
        record = components.repo.get_job(job.id)
        assert record.state is JobState.FAILED
        assert record.attempt_count == 1
        # No retry was scheduled: run_after still holds the time the job was queued.
        assert record.run_after is not None and record.run_after <= record.created_at
        assert record.last_error_code == code.value
        failed = components.videos_repo.get_video(video.id)
        assert failed.status is VideoStatus.FAILED
        assert failed.error_code == code.value and failed.error_message
        assert failed.package is None
        # Not claimable again: a permanent failure is never retried.
        assert components.repo.claim_job_by_id(job.id, "another-worker") is None
        assert components.repo.claim_job("another-worker") is None
        assert components.repo.get_job(job.id).attempt_count == 1
        assert components.storage.list_keys(video_prefix(video.id) + "attempts/") == []
        assert telemetry.stages == ["probe"]


FAILING_FFMPEG = """#!/bin/sh
# Probe and poster calls go to the real ffmpeg; the ladder transcode fails as {how}.
for arg in "$@"; do
    if [ "$arg" = "-var_stream_map" ]; then
        {fail}
    fi
done
exec "{real}" "$@"
"""


def failing_ffmpeg(directory: Path, how: str) -> Path:
    from vodforge.media.ffmpeg import find_ffmpeg

    fail = {
        "exit-1": "echo 'Conversion failed!' >&2; exit 1",
        "sigkill": "kill -9 $$",
    }[how]
    script = directory / f"ffmpeg-{how}"
    script.write_text(FAILING_FFMPEG.format(how=how, fail=fail, real=find_ffmpeg()))
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("how", ["exit-1", "sigkill"])
def test_a_crashing_transcode_is_retried_then_dead(
    database_url: str, tmp_path: Path, short_clip: Path, how: str
) -> None:
    settings = pipeline_settings(
        database_url,
        tmp_path / "data",
        VODFORGE_FFMPEG=str(failing_ffmpeg(tmp_path, how)),
        VODFORGE_MAX_ATTEMPTS="2",
        VODFORGE_BACKOFF_BASE_S="1",
    )
    with pipeline_components(settings) as (components, _):
        video = submit_clip(components, short_clip)
        assert video.current_job_id is not None
        runner = build_runner(components)
        first = components.repo.claim_job_by_id(video.current_job_id, "worker-1")
        assert first is not None

        outcome = runner.run(first, StopToken())
        failed_at = time.time()

        assert outcome.state is JobState.RETRY_WAIT
        assert outcome.failure is not None and outcome.failure.retryable
        assert outcome.failure.code == ErrorCode.TRANSCODE_FAILED.value
        waiting = components.repo.get_job(first.id)
        assert waiting.state is JobState.RETRY_WAIT
        assert waiting.attempt_count == 1 and waiting.lease_token is None
        assert waiting.last_error_code == ErrorCode.TRANSCODE_FAILED.value
        assert waiting.run_after is not None
        # 1 s backoff ± 20 %: in the future, and not claimable before it.
        assert failed_at + 0.5 < waiting.run_after < failed_at + 1.3
        assert components.repo.claim_job_by_id(first.id, "worker-2") is None
        processing = components.videos_repo.get_video(video.id)
        assert processing.status is VideoStatus.PROCESSING and processing.error_code is None

        time.sleep(max(0.0, waiting.run_after - time.time()) + 0.1)
        second = components.repo.claim_job_by_id(first.id, "worker-2")
        assert second is not None and second.attempt == 2
        outcome = runner.run(second, StopToken())

        assert outcome.state is JobState.DEAD
        dead = components.repo.get_job(first.id)
        assert dead.state is JobState.DEAD and dead.attempt_count == 2
        failed = components.videos_repo.get_video(video.id)
        assert failed.status is VideoStatus.FAILED
        assert failed.error_code == ErrorCode.ATTEMPTS_EXHAUSTED.value
        assert failed.error_message and ErrorCode.TRANSCODE_FAILED.value in failed.error_message
        assert failed.package is None
        assert [e.to_state for e in components.repo.job_events(first.id)] == [
            JobState.QUEUED,
            JobState.RUNNING,
            JobState.RETRY_WAIT,
            JobState.RUNNING,
            JobState.DEAD,
        ]
        assert components.storage.list_keys(video_prefix(video.id) + "attempts/") == []
        for attempt in (first, second):
            scratch = scratch_dir_of(settings, attempt)
            assert not scratch.exists()
            assert live_processes_mentioning(str(scratch)) == []


def test_a_source_missing_from_storage_is_not_blamed_on_the_upload(
    database_url: str, tmp_path: Path, short_clip: Path
) -> None:
    """The uploader sent a good file; losing it is the service's fault, not INVALID_INPUT,
    and not a NOT_FOUND the API would show as if the video itself did not exist."""
    settings = pipeline_settings(database_url, tmp_path / "data", VODFORGE_MAX_ATTEMPTS="2")
    with pipeline_components(settings) as (components, _):
        video = submit_clip(components, short_clip)
        assert video.current_job_id is not None and video.source_key is not None
        components.storage.delete_key(video.source_key)
        job = components.repo.claim_job_by_id(video.current_job_id, "worker-1")
        assert job is not None

        outcome = build_runner(components).run(job, StopToken())

        assert outcome.failure is not None
        assert outcome.failure.code == ErrorCode.STORAGE_ERROR.value
        assert outcome.failure.retryable
        assert outcome.state is JobState.RETRY_WAIT
        record = components.repo.get_job(job.id)
        assert record.last_error_code == ErrorCode.STORAGE_ERROR.value
        assert record.run_after is not None and record.run_after > time.time()
