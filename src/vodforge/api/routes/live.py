"""`GET /v1/videos/stream`: the tenant's newest videos pushed as Server-Sent Events.

Authenticated like every public route, with `Authorization: Bearer`: the dashboard reads the
stream with fetch() rather than EventSource (which cannot send headers), so no key or token
ever sits in a URL, where proxies and access logs would keep it.

Events: `snapshot` `{"items": [...]}` on connect; then `video` (one video's JSON, added or
changed) and `removed` `{"id"}` as they happen; `unavailable` `{"error"}` if the database
stops answering; `end` `{"reconnect_ms"}` when the stream's bounded lifetime is over. A comment
line every few seconds keeps proxies from closing a quiet stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from vodforge.api.deps import ComponentsDep, TenantDep
from vodforge.api.schemas import ERROR_RESPONSES
from vodforge.errors import ErrorCode
from vodforge.videos.live import LiveList

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/videos", tags=["videos"], responses=ERROR_RESPONSES)


@dataclass(frozen=True)
class StreamSettings:
    """How often a stream looks at the database, and how long one lasts before the client
    reconnects (bounded, so a deploy or a rotated key takes effect within minutes)."""

    poll_s: float = 1.0
    lifetime_s: float = 300.0
    ping_s: float = 10.0
    reconnect_ms: int = 500


def sse(event: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=event)


async def video_events(live: LiveList, config: StreamSettings) -> AsyncIterator[ServerSentEvent]:
    # The database calls are blocking: each runs in the thread pool and returns its
    # connection to the pool before the next sleep.
    try:
        items = await run_in_threadpool(live.snapshot)
        yield sse("snapshot", {"items": items})
        # A deadline, not a cancel scope: a scope must never stay open across a yield.
        deadline = anyio.current_time() + config.lifetime_s
        while anyio.current_time() + config.poll_s < deadline:
            await anyio.sleep(config.poll_s)
            changes = await run_in_threadpool(live.poll)
            for video in changes.upserted:
                yield sse("video", video)
            for video_id in changes.removed:
                yield sse("removed", {"id": video_id})
    except Exception as exc:
        log.warning("video stream stopped: %s: %s", type(exc).__name__, str(exc)[:200])
        error = {"code": ErrorCode.UNAVAILABLE.value, "message": "the list cannot be read now"}
        yield sse("unavailable", {"error": error})
        return
    yield sse("end", {"reconnect_ms": config.reconnect_ms})


def event_schema(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """One kind of event as OpenAPI describes a text/event-stream item: its name, and its
    data as JSON of the given schema."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": event},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
    }


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


VIDEO = {"$ref": "#/components/schemas/VideoOut"}
EVENT_SCHEMA = {
    "oneOf": [
        event_schema("snapshot", _object(items={"type": "array", "items": VIDEO})),
        event_schema("video", VIDEO),
        event_schema("removed", _object(id={"type": "string"})),
        event_schema("unavailable", _object(error={"$ref": "#/components/schemas/ErrorDetail"})),
        event_schema("end", _object(reconnect_ms={"type": "integer", "minimum": 0})),
    ]
}
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Events: snapshot, then video / removed as they happen, then end",
        "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
    }
}


@router.get(
    "/stream",
    summary="Newest videos, live (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSES,
)
async def stream_videos(
    request: Request,
    components: ComponentsDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> EventSourceResponse:
    """The first page of `GET /v1/videos`, then every change to it, about once a second."""
    config: StreamSettings = request.app.state.stream_settings
    live = LiveList(components.videos, tenant, limit)
    return EventSourceResponse(
        video_events(live, config),
        ping=config.ping_s,
        headers={"Cache-Control": "no-store"},
        send_timeout=30,
    )
