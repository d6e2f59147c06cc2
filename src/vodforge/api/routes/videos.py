"""`/v1/videos`: read, page, history, cancel, retry and delete a tenant's videos."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from vodforge.api.deps import ComponentsDep, TenantDep
from vodforge.api.schemas import ERROR_RESPONSES, DeleteOut, EventList, VideoOut, VideoPage

router = APIRouter(prefix="/v1/videos", tags=["videos"], responses=ERROR_RESPONSES)


@router.get("", response_model=VideoPage, summary="List videos, newest first")
def list_videos(
    components: ComponentsDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    return components.videos.page(tenant, limit=limit, cursor=cursor).to_json()


@router.get("/{video_id}", response_model=VideoOut, summary="One video")
def get_video(video_id: str, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    return components.videos.show(video_id, tenant)


@router.get("/{video_id}/events", response_model=EventList, summary="The job event history")
def video_events(video_id: str, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    events = components.videos.events(video_id, tenant)
    return {"items": [event.to_json() for event in events]}


@router.post("/{video_id}/cancel", response_model=VideoOut, status_code=202)
def cancel_video(video_id: str, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """Waiting jobs end at once; a running one stops at its worker's next heartbeat."""
    components.videos.cancel(video_id, tenant, actor="api")
    return components.videos.show(video_id, tenant)


@router.post("/{video_id}/retry", response_model=VideoOut, status_code=202)
def retry_video(video_id: str, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """A new job for a FAILED or CANCELLED video; the old job's history is kept."""
    components.videos.retry(video_id, tenant)
    return components.videos.show(video_id, tenant)


@router.delete("/{video_id}", response_model=DeleteOut)
def delete_video(video_id: str, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """Works in any state: the video is gone at once; a running job is cancelled and its
    objects are removed as soon as its worker has stopped."""
    return components.videos.delete(video_id, tenant)
