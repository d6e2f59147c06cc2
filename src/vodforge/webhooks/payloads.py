"""The body of a webhook: `{"type", "id", "created_at", "data": <video JSON>}` (SPEC §4)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from vodforge.jobs.records import VideoRecord
from vodforge.webhooks.records import WebhookEvent, iso


class VideoDescriber(Protocol):
    """Whatever turns a video row into the API's video JSON (the video service does);
    a protocol so that webhooks need not import the videos package beside it."""

    def describe(self, video: VideoRecord, tenant_name: str | None = None) -> dict[str, Any]: ...


def snapshot_record(snapshot: dict[str, Any]) -> VideoRecord:
    """The video row the trigger captured, as the record the video JSON is built from."""
    row = {name: snapshot.get(name) for name in VideoRecord.__dataclass_fields__}
    return VideoRecord.from_row(row)


def snapshot_job(snapshot: dict[str, Any]) -> dict[str, Any] | None:
    job = snapshot.get("job")
    if isinstance(job, str):  # a driver that hands nested JSON back as text
        job = json.loads(job)
    if not job:
        return None
    return {
        "id": job["id"],
        "state": job["state"],
        "attempt_count": job["attempt_count"],
        "max_attempts": job["max_attempts"],
    }


def compose_body(event: WebhookEvent, describer: VideoDescriber, tenant_name: str) -> str:
    """The video JSON as it was when the event happened (the trigger's snapshot), not as it
    is now: a video.failed stays FAILED even if the video was retried since, and the body of a
    purged video can still be built. Playback URLs are signed now; a deleted video has none."""
    data = describer.describe(snapshot_record(event.snapshot), tenant_name)
    data["job"] = snapshot_job(event.snapshot)
    data.pop("queue_position", None)  # a position read now would not be the event's
    if event.type == "video.deleted":
        data["playback_url"] = data["thumbnail_url"] = None
    body = {"type": event.type, "id": event.id, "created_at": iso(event.occurred_at), "data": data}
    return json.dumps(body, separators=(",", ":"))
