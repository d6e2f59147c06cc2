"""Response and request bodies as the OpenAPI document publishes them (SPEC §4 shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vodforge.domain.states import JobState, VideoStatus


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


class ProgressOut(BaseModel):
    percent: float
    stage: str | None
    eta_s: float | None = None


class RenditionOut(BaseModel):
    name: str
    width: int
    height: int
    bandwidth: int


class JobSummary(BaseModel):
    id: str
    state: JobState
    attempt_count: int
    max_attempts: int


class VideoOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    tenant: str
    title: str
    status: VideoStatus
    progress: ProgressOut
    duration_s: float | None
    width: int | None
    height: int | None
    renditions: list[RenditionOut]
    playback_url: str | None
    thumbnail_url: str | None
    error: ErrorDetail | None
    job: JobSummary | None
    created_at: str
    updated_at: str
    queue_position: int | None = Field(
        default=None, description="1-based position among waiting jobs, while the job waits"
    )


class VideoPage(BaseModel):
    items: list[VideoOut]
    next_cursor: str | None


class EventOut(BaseModel):
    job_id: str
    at: float
    from_: JobState | None = Field(alias="from")
    to: JobState
    attempt: int
    reason: str | None
    worker: str | None

    model_config = ConfigDict(populate_by_name=True)


class EventList(BaseModel):
    items: list[EventOut]


class DeleteOut(BaseModel):
    ok: bool
    id: str
    purged: bool
    objects: int | None


class BacklogOut(BaseModel):
    queued: int
    retry_wait: int
    backlog: int
    running: int


class ScalingOut(BaseModel):
    backlog: int
    running: int
    busy_workers: int
    desired_workers: int
    reason: str


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    ok: bool
    state: str
    skipped: str | None = None
    marked: str | None = None


class HealthOut(BaseModel):
    ok: bool
    checks: list[dict[str, Any]] = []


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 422, 429, 503)
}
