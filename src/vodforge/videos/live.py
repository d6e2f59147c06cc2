"""The dashboard's live list: a tenant's newest videos, and what changed since the last look.

A stream keeps one LiveList per connection and polls it about once a second. A poll reads the
page's rows in one query and describes again only the videos that can change while their row
does not (waiting and processing ones: progress, stage, ETA, queue position) and those whose
row did change; a finished video is described once. Nothing is held between polls: each read
takes a pooled connection and gives it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vodforge.domain.states import VideoStatus
from vodforge.jobs.records import VideoRecord
from vodforge.tenants.repository import Tenant
from vodforge.videos.service import MAX_PAGE, VideoService

# Their JSON changes without their row changing: telemetry progress and queue position.
MOVING = frozenset({VideoStatus.PENDING_UPLOAD, VideoStatus.UPLOADED, VideoStatus.PROCESSING})
# Signed afresh on every describe (the expiry moves), so they never count as a change.
VOLATILE = ("playback_url", "thumbnail_url")


@dataclass(frozen=True)
class Changes:
    """Videos to add or replace (newest first) and ids that left the page (deleted, or
    pushed off it by newer uploads)."""

    upserted: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upserted or self.removed)


class LiveList:
    def __init__(self, service: VideoService, tenant: Tenant, limit: int = 50) -> None:
        self.service = service
        self.tenant = tenant
        self.limit = max(1, min(limit, MAX_PAGE))
        self._updated_at: dict[str, float] = {}
        self._sent: dict[str, dict[str, Any]] = {}

    def snapshot(self) -> list[dict[str, Any]]:
        """The whole page, newest first; what later polls compare against."""
        self._updated_at.clear()
        self._sent.clear()
        return self.poll().upserted

    def poll(self) -> Changes:
        rows = self.service.videos.list_videos(self.tenant.id, self.limit)
        changes = Changes()
        for row in rows:
            if not self._may_have_changed(row):
                continue
            video = self.service.describe(row, self.tenant.name)
            self._updated_at[row.id] = row.updated_at
            comparable = _comparable(video)
            if self._sent.get(row.id) != comparable:
                self._sent[row.id] = comparable
                changes.upserted.append(video)
        present = {row.id for row in rows}
        for video_id in [known for known in self._sent if known not in present]:
            del self._sent[video_id]
            self._updated_at.pop(video_id, None)
            changes.removed.append(video_id)
        return changes

    def _may_have_changed(self, row: VideoRecord) -> bool:
        return row.status in MOVING or self._updated_at.get(row.id) != row.updated_at


def _comparable(video: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in video.items() if key not in VOLATILE}
