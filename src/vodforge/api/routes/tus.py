"""`/v1/uploads/tus`: resumable uploads, tus 1.0 (core, creation, expiration, termination).

The same bearer key as every public route; an upload belongs to the tenant that created it
(another tenant's is a 404). The PATCH that brings the last byte turns the upload into a video
(UPLOADED, its job queued) and answers with its id in `Vodforge-Video-Id`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from vodforge.api.body_limits import BodyTimeout
from vodforge.api.deps import ComponentsDep, TenantDep
from vodforge.api.errors import CLOSE, error_response
from vodforge.api.schemas import ErrorOut
from vodforge.errors import ErrorCode, InvalidRequest, VodforgeError
from vodforge.uploads.multipart import Batches, UnsupportedMediaType
from vodforge.uploads.tus import TUS_EXTENSIONS, TUS_VERSION, TusUpload, header_number

PATCH_CONTENT_TYPE = "application/offset+octet-stream"
VIDEO_ID_HEADER = "Vodforge-Video-Id"


class TusVersionMismatch(VodforgeError):
    """Send `Tus-Resumable: 1.0.0`: this server speaks tus 1.0.0."""

    code = ErrorCode.INVALID_REQUEST
    http_status = 412


class TusRoute(APIRoute):
    """Every tus response carries Tus-Resumable, errors included (tus 1.0 asks for it on all
    of them), and a 412 names the version this server speaks."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_tus(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Tus-Resumable"] = TUS_VERSION
                if message["status"] == 412:
                    headers["Tus-Version"] = TUS_VERSION
            await send(message)

        await super().handle(scope, receive, send_tus)


def tus_resumable(tus_resumable: Annotated[str | None, Header()] = None) -> None:
    if tus_resumable != TUS_VERSION:
        raise TusVersionMismatch(
            f"Tus-Resumable must be {TUS_VERSION}, got {(tus_resumable or 'none')[:20]!r}"
        )


TusDep = Annotated[None, Depends(tus_resumable)]

TUS_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 408, 409, 412, 413, 415, 423, 429)
}

router = APIRouter(
    prefix="/v1/uploads/tus", tags=["tus"], route_class=TusRoute, responses=TUS_ERRORS
)


def upload_headers(upload: TusUpload) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Expires": upload.expires_header,
        "Cache-Control": "no-store",
    }
    if upload.video_id is not None:
        headers[VIDEO_ID_HEADER] = upload.video_id
    return headers


@router.options("", status_code=204, summary="What this tus server supports")
def tus_options(components: ComponentsDep) -> Response:
    """Discovery needs no key: it only says which version, extensions and size limit apply."""
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(components.uploads.max_upload_bytes),
        },
    )


@router.post(
    "",
    status_code=201,
    # No body: the upload's URL is in Location (the default class would publish a JSON one).
    response_class=Response,
    responses={201: {"description": "Created: the upload's URL in Location"}},
    summary="Create an upload (Upload-Length, Upload-Metadata)",
)
def tus_create(
    request: Request,
    components: ComponentsDep,
    tenant: TenantDep,
    _: TusDep,
    upload_length: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
) -> Response:
    """`Upload-Metadata` keys `filename` and `title` name the video (title, else filename).
    An Upload-Length over the limit is refused here (413), before any byte is sent. What an
    extension this server does not offer would ask for (concatenation, a deferred length, a
    body on creation) is refused (400), never half done."""
    refuse_unoffered_extensions(request)
    upload = components.uploads.create_tus(tenant, length=upload_length, metadata=upload_metadata)
    location = str(request.url_for("tus_head", upload_id=upload.id))
    return Response(
        status_code=201,
        headers={"Location": location, "Upload-Expires": upload.expires_header},
    )


def refuse_unoffered_extensions(request: Request) -> None:
    """Headers of the tus extensions not in TUS_EXTENSIONS: ignoring them would create a plain
    upload for a client that believes it made a partial one (and could concatenate another
    tenant's or unfinished partials into a final one), or that its bytes were taken."""
    headers = request.headers
    if "upload-concat" in headers:
        raise InvalidRequest("Upload-Concat: this server does not offer concatenation")
    if "upload-defer-length" in headers:
        raise InvalidRequest("Upload-Defer-Length: deferred lengths are not offered")
    if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
        raise InvalidRequest("creation-with-upload is not offered: send the bytes with PATCH")


@router.head("/{upload_id}", response_class=Response, summary="How many bytes the server holds")
def tus_head(upload_id: str, components: ComponentsDep, tenant: TenantDep, _: TusDep) -> Response:
    upload = components.uploads.tus_upload(upload_id, tenant)
    headers = upload_headers(upload)
    headers["Upload-Length"] = str(upload.length)
    if upload.raw_metadata:
        headers["Upload-Metadata"] = upload.raw_metadata
    return Response(status_code=200, headers=headers)


@router.patch("/{upload_id}", status_code=204, summary="Append bytes at Upload-Offset")
async def tus_patch(
    upload_id: str,
    request: Request,
    components: ComponentsDep,
    tenant: TenantDep,
    _: TusDep,
    upload_offset: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    """409 when Upload-Offset is not the server's offset; 423 while another PATCH of the same
    upload is running. A PATCH cut off mid-way (the client went away, or its body stalled: 408)
    keeps the bytes that arrived."""
    if (content_type or "").split(";")[0].strip().lower() != PATCH_CONTENT_TYPE:
        raise UnsupportedMediaType(f"a PATCH body is sent as {PATCH_CONTENT_TYPE}")
    offset = header_number(upload_offset, "Upload-Offset")
    uploads = components.uploads
    try:
        with uploads.tus_patch(upload_id, tenant, offset) as patch:
            patch.check_declared(request.headers.get("content-length"))
            body = Batches(request.stream(), cut_by=(ClientDisconnect, BodyTimeout))
            # Appends run on a worker thread a batch at a time: the loop stays free. The
            # bytes of a PATCH cut off mid-way are kept, and may well have been the last.
            async for batch in body:
                await run_in_threadpool(patch.write, batch)
            upload = await run_in_threadpool(patch.finish)
    except VodforgeError as exc:
        # The body may be unread (409, 413, 423): close rather than read it for nothing.
        return error_response(exc.http_status, exc.code.value, exc.message, CLOSE)
    if isinstance(body.cut, BodyTimeout):
        raise body.cut  # 408, once what did arrive is kept: HEAD says where to resume
    if body.cut:
        return Response(status_code=400)  # nobody is listening any more
    return Response(status_code=204, headers=upload_headers(upload))


@router.delete("/{upload_id}", status_code=204, summary="Terminate an upload")
def tus_delete(upload_id: str, components: ComponentsDep, tenant: TenantDep, _: TusDep) -> Response:
    """The upload and its bytes are removed; a video it already became is not touched."""
    components.uploads.terminate_tus(upload_id, tenant)
    return Response(status_code=204)
