"""Job and video states, and which job transitions the lifecycle contract allows."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    RETRY_WAIT = "RETRY_WAIT"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    DEAD = "DEAD"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_JOB_STATES


class JobKind(StrEnum):
    """What a job does. A video's job is TRANSCODE; for a long source it becomes the parent
    of CHUNK jobs (video, one span each), one AUDIO job and, once they all succeed, a STITCH
    job that publishes the package (chunked encoding, SPEC §3 item 7)."""

    TRANSCODE = "transcode"
    CHUNK = "chunk"
    AUDIO = "audio"
    STITCH = "stitch"


class VideoStatus(StrEnum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_JOB_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.DEAD}
)
CLAIMABLE_JOB_STATES = frozenset({JobState.QUEUED, JobState.RETRY_WAIT})

# Every edge SPEC §2 allows; the property tests check the event log against this table.
ALLOWED_TRANSITIONS: frozenset[tuple[JobState | None, JobState]] = frozenset(
    {
        (None, JobState.QUEUED),
        (JobState.QUEUED, JobState.RUNNING),
        (JobState.RETRY_WAIT, JobState.RUNNING),
        (JobState.RUNNING, JobState.SUCCEEDED),
        (JobState.RUNNING, JobState.RETRY_WAIT),
        (JobState.RUNNING, JobState.DEAD),
        (JobState.RUNNING, JobState.FAILED),
        (JobState.RUNNING, JobState.CANCELLED),
        # A worker shutting down gives its job back instead of letting the lease expire.
        (JobState.RUNNING, JobState.QUEUED),
        (JobState.QUEUED, JobState.CANCELLED),
        (JobState.RETRY_WAIT, JobState.CANCELLED),
        (JobState.QUEUED, JobState.DEAD),
        (JobState.RETRY_WAIT, JobState.DEAD),
    }
)


def video_status_for_terminal_job(state: JobState) -> VideoStatus:
    """The video status that a job ending in `state` leaves behind."""
    if state is JobState.SUCCEEDED:
        return VideoStatus.READY
    if state is JobState.CANCELLED:
        return VideoStatus.CANCELLED
    return VideoStatus.FAILED
