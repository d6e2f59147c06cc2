"""Frozen records of the outbox: events, the claim an attempt holds, attempts, counts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

EVENT_TYPES = ("video.ready", "video.failed", "video.cancelled", "video.deleted")


def iso(ts: float | None) -> str | None:
    """UTC ISO 8601 with a Z, as every time in the video JSON."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class DeliveryState(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class WebhookEvent:
    seq: int
    id: str
    tenant_id: str
    video_id: str
    type: str
    occurred_at: float
    snapshot: dict[str, Any]
    payload: str | None
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    retry_until: float | None
    last_status: int | None
    last_error: str | None
    delivered_at: float | None
    updated_at: float

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> WebhookEvent:
        fields = {name: row[name] for name in cls.__dataclass_fields__}
        fields["snapshot"] = json.loads(row["snapshot"])
        fields["state"] = DeliveryState(row["state"])
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        """A delivery as GET /v1/webhooks/deliveries shows it."""
        pending = self.state is DeliveryState.PENDING
        return {
            "id": self.id,
            "type": self.type,
            "video_id": self.video_id,
            "state": self.state.value,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": iso(self.occurred_at),
            "next_attempt_at": iso(self.next_attempt_at) if pending else None,
            "delivered_at": iso(self.delivered_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class ClaimedEvent:
    """An event one attempt holds until `lease_until`; its writes are fenced by `token`."""

    event: WebhookEvent
    token: str
    lease_until: float


@dataclass(frozen=True)
class Attempt:
    at: float
    url: str
    status_code: int | None
    error: str | None
    duration_s: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "url": self.url,
            "status_code": self.status_code,
            "error": self.error,
            "duration_s": round(self.duration_s, 4),
        }


@dataclass(frozen=True)
class WebhookCounts:
    """For metrics: events by state, and attempts made and failed (rows pruned after the
    retention period leave these counts, so they can go down)."""

    pending: int
    delivered: int
    failed: int
    attempts: int
    failed_attempts: int
