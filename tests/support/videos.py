"""Videos in each state for API tests, made through the repositories as the product makes them."""

from __future__ import annotations

from typing import Any

from vodforge.bootstrap import Components
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.storage.base import attempt_prefix


def tenant_id(components: Components, name: str) -> str:
    tenant = components.tenants.by_name(name)
    assert tenant is not None, f"no tenant {name!r}"
    return tenant.id


def queued_video(
    components: Components,
    tenant_name: str,
    title: str = "clip",
    *,
    repo: JobRepository | None = None,
    video_id: str | None = None,
) -> str:
    """An UPLOADED video whose job is QUEUED; `repo` may carry a test clock."""
    repo = repo or components.repo
    video_id, _ = repo.create_video_and_job(
        tenant_id(components, tenant_name),
        title,
        source_key=f"sources/{title}.mp4",
        source_bytes=1024,
        video_id=video_id,
    )
    return video_id


def sample_package(video_id: str, job_id: str, attempt: int = 1) -> dict[str, Any]:
    """A published package as the pipeline records it (two renditions, poster, thumbnail)."""
    prefix = attempt_prefix(video_id, job_id, attempt)
    return {
        "prefix": prefix,
        "master": prefix + "master.m3u8",
        "poster": prefix + "poster.jpg",
        "thumbnail": prefix + "thumbnail.jpg",
        "duration_s": 12.0,
        "renditions": [
            {
                "name": name,
                "width": width,
                "height": height,
                "fps": 30.0,
                "bandwidth": bandwidth,
                "average_bandwidth": bandwidth * 3 // 4,
                "codecs": "avc1.64001f,mp4a.40.2",
                "playlist": f"{prefix}{name}/index.m3u8",
            }
            for name, width, height, bandwidth in (
                ("720p", 1280, 720, 3_000_000),
                ("360p", 640, 360, 900_000),
            )
        ],
    }


def ready_video(components: Components, tenant_name: str, title: str = "ready") -> str:
    """A READY video: its job claimed and completed with a published package."""
    video_id = queued_video(components, tenant_name, title)
    job_id = components.videos_repo.get_video(video_id).current_job_id
    assert job_id is not None
    job = components.repo.claim_job_by_id(job_id, "test-worker")
    assert job is not None
    components.repo.complete_job(job, sample_package(video_id, job.id, job.attempt))
    return video_id


def failed_video(components: Components, tenant_name: str, title: str = "failed") -> str:
    """A FAILED video: its job claimed and failed permanently (rejected input)."""
    video_id = queued_video(components, tenant_name, title)
    job_id = components.videos_repo.get_video(video_id).current_job_id
    assert job_id is not None
    job = components.repo.claim_job_by_id(job_id, "test-worker")
    assert job is not None
    failure = Failure("NO_VIDEO_STREAM", "the file has no video stream", retryable=False)
    components.repo.fail_job(job, failure)
    return video_id


def cancelled_video(components: Components, tenant_name: str, title: str = "cancelled") -> str:
    video_id = queued_video(components, tenant_name, title)
    components.repo.cancel_video(video_id, actor="test")
    return video_id


def one_package_each(components: Components, videos: list[str]) -> bool:
    """Each video's objects are its source and its published package, nothing else: what a
    killed worker was uploading is gone (the winner's tidy-up, or the sweep of unowned
    attempts)."""
    for video_id in videos:
        video = components.videos_repo.get_video(video_id)
        assert video.package is not None
        keys = components.storage.list_keys(f"videos/{video_id}/")
        outside = [k for k in keys if not k.startswith(video.package["prefix"])]
        if outside != [video.source_key] or video.package["master"] not in keys:
            return False
    return True
