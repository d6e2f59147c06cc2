"""`/v1/webhooks`: the calling tenant's webhook endpoint and secret, its delivery log, and
redelivery. The bodies live here, next to the only routes that use them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from vodforge.api.deps import ComponentsDep, TenantDep
from vodforge.api.schemas import ERROR_RESPONSES, ErrorOut
from vodforge.webhooks.records import DeliveryState

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)


class EndpointIn(BaseModel):
    url: str = Field(
        max_length=2000,
        description="http(s) URL that receives the events; it must resolve to public "
        "addresses unless the deployment allows private ones",
    )


class EndpointOut(BaseModel):
    url: str | None = Field(description="Where events go; null when webhooks are off")
    secret: str | None = Field(
        description="The `whsec_` signing secret, only in the answer that created it"
    )


class AttemptOut(BaseModel):
    at: str
    url: str
    status_code: int | None
    error: str | None
    duration_s: float


class DeliveryOut(BaseModel):
    id: str = Field(description="The event id, sent as `webhook-id` on every attempt")
    type: str = Field(description="video.ready, video.failed, video.cancelled or video.deleted")
    video_id: str
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    updated_at: str


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


@router.get("/endpoint", response_model=EndpointOut, summary="Where webhooks go")
def get_endpoint(components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    return components.webhooks.endpoint(tenant)


@router.put(
    "/endpoint",
    response_model=EndpointOut,
    summary="Set the webhook URL",
    responses={code: {"model": ErrorOut} for code in (408, 413)},
)
def put_endpoint(body: EndpointIn, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """The first URL gets a signing secret, returned here once; changing the URL keeps it."""
    return components.webhooks.set_url(tenant, body.url)


@router.post("/endpoint/rotate-secret", response_model=EndpointOut, summary="New signing secret")
def rotate_secret(components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """The new secret signs every attempt from now on, retries of older events included."""
    return components.webhooks.rotate_secret(tenant)


@router.delete("/endpoint", response_model=EndpointOut, summary="Turn webhooks off")
def delete_endpoint(components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """No events are recorded from now on; pending ones fail at their next attempt."""
    return components.webhooks.disable(tenant)


@router.get("/deliveries", response_model=DeliveryPage, summary="The delivery log, newest first")
def list_deliveries(
    components: ComponentsDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    return components.webhooks.page(tenant, limit=limit, cursor=cursor).to_json()


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetailOut, summary="One delivery")
def get_delivery(delivery_id: str, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """The event's delivery state and every attempt made."""
    return components.webhooks.show(tenant, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=202,
    summary="Send an event again",
)
def redeliver(delivery_id: str, components: ComponentsDep, tenant: TenantDep) -> dict[str, Any]:
    """Queued again, due now, with the same webhook-id and body and a fresh retry window."""
    return components.webhooks.redeliver(tenant, delivery_id)
