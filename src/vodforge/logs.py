"""Structured logs: one JSON object per line, with an `event` field named as in SPEC §4."""

from __future__ import annotations

import json
import logging
import sys
import time
from enum import StrEnum
from typing import Any


class Event(StrEnum):
    JOB_CLAIMED = "JOB_CLAIMED"
    PROCESS_START = "PROCESS_START"
    TRANSCODE_PROGRESS = "TRANSCODE_PROGRESS"
    JOB_COMPLETED = "JOB_COMPLETED"
    JOB_SPLIT = "JOB_SPLIT"
    JOB_FAILED = "JOB_FAILED"
    JOB_CANCELLED = "JOB_CANCELLED"
    JOB_RELEASED = "JOB_RELEASED"
    LEASE_LOST = "LEASE_LOST"
    STUCK_RECOVERED = "STUCK_RECOVERED"
    DLQ_RUNNING_ALERT = "DLQ_RUNNING_ALERT"
    DISPATCH_FAILED = "DISPATCH_FAILED"
    DISPATCH_STALLED = "DISPATCH_STALLED"
    EXECUTOR_TERMINATE = "EXECUTOR_TERMINATE"
    IDEMPOTENT_DONE = "IDEMPOTENT_DONE"
    IDEMPOTENT_READY = "IDEMPOTENT_READY"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    CLAIM_LOST = "CLAIM_LOST"
    WORKER_STARTED = "WORKER_STARTED"
    WORKER_STOPPED = "WORKER_STOPPED"
    SCHEDULER_TICK = "SCHEDULER_TICK"
    RECONCILE_FIX = "RECONCILE_FIX"
    WEBHOOK_DELIVERED = "WEBHOOK_DELIVERED"
    WEBHOOK_RETRY = "WEBHOOK_RETRY"
    WEBHOOK_FAILED = "WEBHOOK_FAILED"
    CLOCK_SKEW = "CLOCK_SKEW"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields:
            payload.update(fields)
        else:
            payload["event"] = "LOG"
            payload["message"] = record.getMessage()
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the moment of each record, so a live progress
    display that redirects stderr (rich) draws the line above itself instead of tearing."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def json_handler() -> logging.Handler:
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    return handler


def configure_logging(level: str = "INFO", handler: logging.Handler | None = None) -> None:
    """One handler on the root logger: JSON lines on stderr unless the edge passes another."""
    root = logging.getLogger()
    root.handlers[:] = [handler or json_handler()]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_event(
    logger: logging.Logger, event: Event, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log one event line; `fields` become top-level JSON keys next to `event`."""
    logger.log(level, event.value, extra={"fields": {"event": event.value, **fields}})


def monotonic_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
