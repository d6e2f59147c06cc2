"""Uploading beside the encode on S3 (a real moto server): finished segments go up while
ffmpeg still runs, the bucket ends up holding exactly the package's files, and a stop in the
middle of the encode leaves no object of the attempt behind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.pipeline import (
    BackgroundRun,
    pipeline_components,
    pipeline_settings,
    scratch_dir_of,
    submit_clip,
)
from vodforge.domain.ladder import plan_ladder
from vodforge.domain.limits import InputLimits
from vodforge.domain.states import JobState, VideoStatus
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source
from vodforge.media.progress import Progress
from vodforge.media.transcode import run_transcode
from vodforge.pipeline.upload import package_upload
from vodforge.process import STOP_GRACE_S, StopToken
from vodforge.storage.s3 import S3Storage

pytestmark = pytest.mark.slow

PREFIX = "deploy/vod"
ATTEMPT = "videos/v1/attempts/j1-1/"


def bucket_objects(client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


class TimedS3(S3Storage):
    """S3 storage that notes when each upload started."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: dict[str, float] = {}

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self.started.setdefault(key, time.monotonic())
        super().put_file(key, path, content_type)


def test_segments_go_up_during_the_encode_and_the_bucket_matches_the_package(
    tmp_path: Path,
    long_clip: Path,
    pipeline_s3_endpoint: str,
    pipeline_s3_bucket: tuple[Any, str],
) -> None:
    client, bucket = pipeline_s3_bucket
    storage = TimedS3(bucket, PREFIX, endpoint_url=pipeline_s3_endpoint)
    ffmpeg = find_ffmpeg()
    probe = probe_source(long_clip, InputLimits(), ffmpeg)
    ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
    out = tmp_path / "package"
    encoded_at: list[float] = []

    def on_progress(progress: Progress) -> None:
        if progress.done:
            encoded_at.append(time.monotonic())

    with package_upload(storage, ATTEMPT, out, [r.name for r in ladder]) as upload:
        run_transcode(
            ffmpeg, long_clip, probe, ladder, out,
            stop=StopToken(), on_progress=on_progress, with_poster=True,
        )  # fmt: skip
        keys = upload.finish()

    # Exactly the files the local path would upload, byte for byte.
    files = {
        f"{PREFIX}/{ATTEMPT}{path.relative_to(out).as_posix()}": path.read_bytes()
        for path in out.rglob("*")
        if path.is_file()
    }
    assert bucket_objects(client, bucket, f"{PREFIX}/") == files
    assert sorted(f"{PREFIX}/{key}" for key in keys) == sorted(files)
    # And some of them went up while ffmpeg was still encoding.
    early = [key for key in upload.early_keys if storage.started[key] < encoded_at[0]]
    assert len(early) >= len(ladder), upload.early_keys
    assert all(key.endswith(".m4s") for key in upload.early_keys)
    head = client.head_object(Bucket=bucket, Key=f"{PREFIX}/{upload.early_keys[0]}")
    assert head["ContentType"] == "video/iso.segment"


HEARTBEAT_S = 0.5
STOP_BUDGET_S = HEARTBEAT_S + STOP_GRACE_S + 5


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cancel_mid_encode_leaves_no_object_of_the_attempt(
    database_url: str,
    tmp_path: Path,
    long_clip: Path,
    pipeline_s3_endpoint: str,
    pipeline_s3_bucket: tuple[Any, str],
) -> None:
    client, bucket = pipeline_s3_bucket
    settings = pipeline_settings(
        database_url,
        tmp_path / "data",
        VODFORGE_STORAGE_URL=f"s3://{bucket}/{PREFIX}",
        VODFORGE_S3_ENDPOINT_URL=pipeline_s3_endpoint,
        VODFORGE_HEARTBEAT_S=str(HEARTBEAT_S),
    )
    with pipeline_components(settings) as (components, _):
        video = submit_clip(components, long_clip)
        assert video.current_job_id is not None
        job = components.repo.claim_job_by_id(video.current_job_id, "s3-worker")
        assert job is not None
        attempt = f"{PREFIX}/videos/{video.id}/attempts/{job.id}-1/"
        run = BackgroundRun(components, job).start()
        try:
            deadline = time.monotonic() + 90
            while not any(k.endswith(".m4s") for k in bucket_objects(client, bucket, attempt)):
                assert time.monotonic() < deadline, "no segment went up during the encode"
                assert run.outcome is None and run.error is None, "the run ended early"
                time.sleep(0.2)

            assert components.repo.cancel_video(video.id) is JobState.RUNNING
            assert run.join(STOP_BUDGET_S), "the run returned after the cancel"
        finally:
            run.stop.request("test over")
            run.join(STOP_BUDGET_S)

        assert run.error is None and run.outcome is not None
        assert run.outcome.state is JobState.CANCELLED
        assert components.videos_repo.get_video(video.id).status is VideoStatus.CANCELLED
        assert bucket_objects(client, bucket, attempt) == {}
        assert list(bucket_objects(client, bucket, f"{PREFIX}/videos/{video.id}/")) == [
            f"{PREFIX}/{video.source_key}"
        ]
        assert not scratch_dir_of(settings, job).exists()
