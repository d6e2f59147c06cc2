"""Frozen records that cross the repository boundary: claimed jobs, job and video rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vodforge.domain.states import JobKind, JobState, VideoStatus


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds a lease on; every write it makes is fenced by lease_token."""

    id: str
    video_id: str
    tenant_id: str
    attempt: int
    max_attempts: int
    lease_token: str
    worker_id: str
    cancel_requested: bool = False
    # A plain or parent job is "transcode"; a family's children are "chunk", "audio" and
    # "stitch", with what they are to do in `spec`.
    kind: JobKind = JobKind.TRANSCODE
    parent_id: str | None = None
    spec: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobRecord:
    id: str
    video_id: str
    tenant_id: str
    state: JobState
    attempt_count: int
    max_attempts: int
    lease_token: str | None
    leased_by: str | None
    leased_until: float | None
    last_heartbeat_at: float | None
    cancel_requested: bool
    run_after: float | None
    executor_ref: str | None
    dispatched_at: float | None
    dispatch_error: str | None
    dispatch_failures: int
    dispatch_after: float | None
    last_error_code: str | None
    last_error_message: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    kind: JobKind = JobKind.TRANSCODE
    parent_id: str | None = None
    spec: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> JobRecord:
        parsed = ("state", "kind", "spec", "result")
        return cls(
            **{name: row[name] for name in cls.__dataclass_fields__ if name not in parsed},
            state=JobState(row["state"]),
            kind=JobKind(row["kind"]),
            spec=_json_or_none(row["spec"]),
            result=_json_or_none(row["result"]),
        )

    @property
    def waiting_on_children(self) -> bool:
        """A parent whose work its children are doing: RUNNING, with no worker's lease."""
        return self.state is JobState.RUNNING and self.lease_token is None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "attempt_count": self.attempt_count,
            "max_attempts": self.max_attempts,
        }


@dataclass(frozen=True)
class VideoRecord:
    id: str
    tenant_id: str
    title: str
    status: VideoStatus
    source_key: str | None
    source_bytes: int | None
    probe: dict[str, Any] | None
    duration_s: float | None
    width: int | None
    height: int | None
    package: dict[str, Any] | None
    current_job_id: str | None
    error_code: str | None
    error_message: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> VideoRecord:
        fields = {name: row[name] for name in cls.__dataclass_fields__}
        fields["status"] = VideoStatus(row["status"])
        fields["probe"] = json.loads(row["probe"]) if row["probe"] else None
        fields["package"] = json.loads(row["package"]) if row["package"] else None
        return cls(**fields)


@dataclass(frozen=True)
class JobEvent:
    id: int
    job_id: str
    at: float
    from_state: JobState | None
    to_state: JobState
    attempt: int
    reason: str | None
    worker_id: str | None
    # The job's kind, when read with the video's events (a chunked video lists every job
    # of its family: transcode, chunk, audio, stitch).
    kind: JobKind | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            **({"kind": self.kind.value} if self.kind is not None else {}),
            "at": self.at,
            "from": self.from_state.value if self.from_state else None,
            "to": self.to_state.value,
            "attempt": self.attempt,
            "reason": self.reason,
            "worker": self.worker_id,
        }


@dataclass(frozen=True)
class ExpiredLease:
    job_id: str
    video_id: str
    tenant_id: str
    state: JobState
    attempt_count: int
    max_attempts: int


@dataclass(frozen=True)
class Backlog:
    queued: int
    retry_wait: int
    running: int

    @property
    def backlog(self) -> int:
        return self.queued + self.retry_wait

    def to_json(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "retry_wait": self.retry_wait,
            "backlog": self.backlog,
            "running": self.running,
        }


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def job_event_from_row(row: Mapping[Any, Any]) -> JobEvent:
    return JobEvent(
        id=row["id"],
        job_id=row["job_id"],
        at=row["at"],
        from_state=JobState(row["from_state"]) if row["from_state"] else None,
        to_state=JobState(row["to_state"]),
        attempt=row["attempt"],
        reason=row["reason"],
        worker_id=row["worker_id"],
        kind=JobKind(row["kind"]) if row.get("kind") else None,
    )
