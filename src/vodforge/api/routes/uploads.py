"""Uploads that are not tus: `POST /v1/videos` (a multipart body, streamed to a staging file)
and direct uploads to S3 (`POST /v1/uploads`, the client's PUT, `POST /v1/videos/{id}/complete`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from vodforge.api.deps import ComponentsDep, TenantDep
from vodforge.api.errors import CLOSE, error_response
from vodforge.api.schemas import ERROR_RESPONSES, ErrorOut, VideoOut
from vodforge.errors import InvalidRequest, PayloadTooLarge, VodforgeError
from vodforge.uploads.multipart import (
    Batches,
    FormStager,
    FormUpload,
    boundary_of,
    check_declared_length,
)

router = APIRouter(tags=["uploads"], responses=ERROR_RESPONSES)

# S3 takes at most 5 GB in one PUT; larger files would need multipart part URLs (not offered).
MAX_SINGLE_PUT_BYTES = 5 * 1000**3

MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    }
}


class DirectUploadIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    size: int = Field(gt=0, description="The file's exact size in bytes")
    filename: str | None = Field(default=None, max_length=1000)


class UploadUrlOut(BaseModel):
    method: str
    url: str
    expires_at: float


class DirectUploadOut(BaseModel):
    video: VideoOut
    upload: UploadUrlOut


@router.post(
    "/v1/videos",
    status_code=201,
    response_model=VideoOut,
    summary="Upload a video (multipart/form-data: `file`, optional `title`)",
    openapi_extra=MULTIPART_BODY,
    responses={code: {"model": ErrorOut} for code in (408, 413, 415)},
)
async def upload_video(request: Request, components: ComponentsDep, tenant: TenantDep) -> Any:
    """The body is parsed as it arrives and the file streamed to disk, so any size costs
    the same memory; it is refused (413) as soon as it is known to be over the limit."""
    uploads = components.uploads
    boundary = boundary_of(request.headers.get("content-type"))
    staged = uploads.new_staging_file()
    try:
        try:
            form = await receive_form(request, boundary, staged, uploads.max_upload_bytes)
        except VodforgeError as exc:
            # The body may be only partly read (413, malformed): closing stops a client that
            # is still sending, where keeping the connection means reading the rest for nothing.
            return error_response(exc.http_status, exc.code.value, exc.message, CLOSE)
        return await run_in_threadpool(
            uploads.accept_staged, staged, tenant, filename=form.filename, title=form.title
        )
    finally:
        staged.unlink(missing_ok=True)


async def receive_form(request: Request, boundary: bytes, staged: Path, limit: int) -> FormUpload:
    """The multipart body, its file part written to `staged` as it arrives."""
    check_declared_length(request.headers.get("content-length"), limit)
    try:
        with staged.open("wb") as out:
            form = FormStager(boundary, out, limit)
            # Parsing and writing run on a worker thread, a batch at a time, so the event
            # loop keeps serving other requests during a long upload.
            async for batch in Batches(request.stream()):
                await run_in_threadpool(form.feed, batch)
    except ClientDisconnect:
        raise InvalidRequest("the client went away before the upload ended") from None
    return form.result()


@router.post(
    "/v1/uploads",
    status_code=201,
    response_model=DirectUploadOut,
    summary="Start a direct upload to S3: a PENDING_UPLOAD video and a URL to PUT the file to",
    responses={code: {"model": ErrorOut} for code in (408, 413)},
)
def start_direct_upload(
    body: DirectUploadIn, components: ComponentsDep, tenant: TenantDep
) -> dict[str, Any]:
    """PUT exactly `size` bytes to `upload.url` before `expires_at`, then call
    `POST /v1/videos/{id}/complete`. Local storage answers 409: use `POST /v1/videos` or tus.
    One PUT carries up to 5 GB (S3's limit for a single PUT); send larger files with tus."""
    components.videos.check_upload_size(body.size)
    if body.size > MAX_SINGLE_PUT_BYTES:
        raise PayloadTooLarge(
            f"a direct upload is one PUT of at most {MAX_SINGLE_PUT_BYTES} bytes;"
            " upload larger files with tus (/v1/uploads/tus)"
        )
    direct = components.videos.start_direct_upload(
        tenant, title=body.title, size=body.size, filename=body.filename
    )
    return direct.to_json()


@router.post(
    "/v1/videos/{video_id}/complete",
    response_model=VideoOut,
    summary="Finish a direct upload: the object is checked and the video queued",
)
def complete_direct_upload(
    video_id: str, components: ComponentsDep, tenant: TenantDep
) -> dict[str, Any]:
    """409 while the object is missing or its size differs from the announced one, and for a
    video that is not waiting for a direct upload."""
    return components.videos.complete_direct_upload(video_id, tenant)
