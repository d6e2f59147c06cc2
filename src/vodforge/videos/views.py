"""The SPEC's JSON shapes for videos and jobs, shared by the CLI and the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vodforge.jobs.records import JobRecord, VideoRecord


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def video_json(
    video: VideoRecord,
    *,
    tenant_name: str,
    job: JobRecord | None,
    progress: dict[str, Any] | None,
    playback_url: str | None = None,
    thumbnail_url: str | None = None,
) -> dict[str, Any]:
    package = video.package or {}
    status = video.status.value
    if status == "READY":
        progress_json = {"percent": 100.0, "stage": "done"}
    elif progress:
        progress_json = {
            "percent": progress.get("percent", 0.0),
            "stage": progress.get("stage"),
            # ffmpeg's estimate while transcoding; None in the other stages.
            "eta_s": progress.get("eta_s"),
        }
        if "chunks" in progress:
            # A chunked video: how many of its chunks there are, are done and run now.
            progress_json["chunks"] = progress["chunks"]
    else:
        progress_json = {"percent": 0.0, "stage": "queued" if status == "UPLOADED" else None}
    return {
        "id": video.id,
        "tenant": tenant_name,
        "title": video.title,
        "status": status,
        "progress": progress_json,
        "duration_s": video.duration_s,
        "width": video.width,
        "height": video.height,
        "renditions": [
            {
                "name": r["name"],
                "width": r["width"],
                "height": r["height"],
                "bandwidth": r["bandwidth"],
            }
            for r in package.get("renditions", [])
        ],
        "playback_url": playback_url,
        "thumbnail_url": thumbnail_url,
        "error": (
            {"code": video.error_code, "message": video.error_message} if video.error_code else None
        ),
        "job": job.summary() if job else None,
        "created_at": iso(video.created_at),
        "updated_at": iso(video.updated_at),
    }
