"""The pipeline on S3 storage (a real moto server): the package is published under the
attempt's prefix inside the configured bucket prefix, plays from a presigned URL, and
deleting the video removes every object it had."""

from __future__ import annotations

import argparse
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.pipeline import pipeline_components, pipeline_settings, submit_clip
from vodforge.cli.runtime import build_runner
from vodforge.cli.videos import cmd_delete
from vodforge.domain.states import JobState, VideoStatus
from vodforge.playback.signing import PLAY_ROUTE
from vodforge.process import StopToken

pytestmark = pytest.mark.slow

PREFIX = "deploy/vod"


def bucket_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def test_publish_to_s3_then_delete_removes_every_object(
    database_url: str,
    tmp_path: Path,
    short_clip: Path,
    pipeline_s3_endpoint: str,
    pipeline_s3_bucket: tuple[Any, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, bucket = pipeline_s3_bucket
    settings = pipeline_settings(
        database_url,
        tmp_path / "data",
        VODFORGE_STORAGE_URL=f"s3://{bucket}/{PREFIX}",
        VODFORGE_S3_ENDPOINT_URL=pipeline_s3_endpoint,
    )
    with pipeline_components(settings) as (components, _):
        video = submit_clip(components, short_clip)
        assert video.current_job_id is not None
        # The source went to the bucket, not to the data directory.
        assert bucket_keys(client, bucket, "") == [f"{PREFIX}/{video.source_key}"]
        job = components.repo.claim_job_by_id(video.current_job_id, "s3-worker")
        assert job is not None

        outcome = build_runner(components).run(job, StopToken())

        assert outcome.state is JobState.SUCCEEDED, outcome.failure
        ready = components.videos_repo.get_video(video.id)
        assert ready.status is VideoStatus.READY and ready.package is not None
        attempt = f"{PREFIX}/videos/{video.id}/attempts/{job.id}-1/"
        stored = bucket_keys(client, bucket, f"{PREFIX}/videos/{video.id}/")
        assert f"{PREFIX}/{ready.package['master']}" in stored
        assert f"{PREFIX}/{ready.package['poster']}" in stored
        for rendition in ready.package["renditions"]:
            assert f"{PREFIX}/{rendition['playlist']}" in stored
        assert [k for k in stored if not k.startswith(attempt)] == [f"{PREFIX}/{ready.source_key}"]
        head = client.head_object(Bucket=bucket, Key=f"{PREFIX}/{ready.package['master']}")
        assert head["ContentType"] == "application/vnd.apple.mpegurl"

        # A READY video's playback URL is a signed URL under the API's play route, whose
        # token grants this package; behind it the bucket's objects are readable through
        # presigned URLs that need no credentials.
        data = components.videos.describe(ready)
        assert data["status"] == "READY"
        play = f"{settings.public_url}{PLAY_ROUTE}/{video.id}/"
        assert data["playback_url"] and data["playback_url"].startswith(play)
        token, _, relative = data["playback_url"].removeprefix(play).partition("/")
        assert relative == "master.m3u8"
        components.signer.verify(video.id, ready.package["prefix"], token)
        presigned = components.storage.presigned_url(ready.package["master"], 3600)
        assert presigned and presigned.startswith(pipeline_s3_endpoint)
        with urllib.request.urlopen(presigned, timeout=10) as response:
            assert response.read().startswith(b"#EXTM3U")

        assert cmd_delete(components, argparse.Namespace(video_id=video.id, json=True)) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == {"ok": True, "id": video.id, "purged": True, "objects": len(stored)}
        assert bucket_keys(client, bucket, "") == []
        assert components.videos_repo.find_video(video.id) is None
        assert components.repo.find_job(job.id) is None
