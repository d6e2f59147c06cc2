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

from tests.support.pipeline import pipeline_services, pipeline_settings
from vodforge.cli.runtime import build_runner
from vodforge.cli.videos import DEFAULT_TENANT, cmd_delete, describe_video, submit_file
from vodforge.domain.states import JobState, VideoStatus
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
    with pipeline_services(settings) as (services, _):
        video = submit_file(services, short_clip, DEFAULT_TENANT, None)
        assert video.current_job_id is not None
        # The source went to the bucket, not to the data directory.
        assert bucket_keys(client, bucket, "") == [f"{PREFIX}/{video.source_key}"]
        job = services.repo.claim_job_by_id(video.current_job_id, "s3-worker")
        assert job is not None

        outcome = build_runner(services).run(job, StopToken())

        assert outcome.state is JobState.SUCCEEDED, outcome.failure
        ready = services.repo.get_video(video.id)
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

        # A READY video's playback URL is a presigned URL that needs no credentials.
        data = describe_video(services, ready)
        assert data["status"] == "READY"
        assert data["playback_url"] and data["playback_url"].startswith(pipeline_s3_endpoint)
        with urllib.request.urlopen(data["playback_url"], timeout=10) as response:
            assert response.read().startswith(b"#EXTM3U")

        assert cmd_delete(services, argparse.Namespace(video_id=video.id, json=True)) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == {"ok": True, "id": video.id, "objects_deleted": len(stored)}
        assert bucket_keys(client, bucket, "") == []
        assert services.repo.find_video(video.id) is None
        assert services.repo.find_job(job.id) is None
