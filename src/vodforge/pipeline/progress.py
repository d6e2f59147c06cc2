"""Reports a job's live progress to the telemetry store, at most a few times a second."""

from __future__ import annotations

import logging
import time
from typing import Any

from vodforge.jobs.records import ClaimedJob
from vodforge.logs import Event, log_event
from vodforge.media.progress import Progress
from vodforge.telemetry import Telemetry

log = logging.getLogger(__name__)


class ProgressReporter:
    def __init__(
        self,
        telemetry: Telemetry,
        job: ClaimedJob,
        *,
        min_interval_s: float = 0.5,
        log_interval_s: float = 5.0,
    ) -> None:
        self.telemetry = telemetry
        self.job = job
        self.min_interval_s = min_interval_s
        self.log_interval_s = log_interval_s
        self.stage = "probe"
        self._last_write = 0.0
        self._last_log = 0.0

    def enter(self, stage: str, percent: float = 0.0) -> None:
        self.stage = stage
        self._write({"percent": round(percent, 1)}, force=True)

    def transcode_progress(self, progress: Progress) -> None:
        self._write(
            {
                "percent": round(progress.percent, 1),
                "fps": progress.fps,
                "speed": progress.speed,
                "eta_s": progress.eta_s,
                "out_time_s": progress.out_time_s,
            },
            force=progress.done,
        )

    def _write(self, fields: dict[str, object], *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.min_interval_s:
            return
        self._last_write = now
        payload: dict[str, Any] = {"stage": self.stage, **fields}
        # A family's children run side by side: each keeps its own progress (under its job
        # id), and the video's is their sum (videos.progress.family_progress).
        subject = self.job.id if self.job.parent_id else self.job.video_id
        self.telemetry.record_progress(self.job.tenant_id, subject, payload)
        if force or now - self._last_log >= self.log_interval_s:
            self._last_log = now
            log_event(
                log,
                Event.TRANSCODE_PROGRESS,
                job_id=self.job.id,
                video_id=self.job.video_id,
                attempt=self.job.attempt,
                **payload,
            )
