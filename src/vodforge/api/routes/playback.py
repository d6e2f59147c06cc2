"""`/v1/play/{video_id}/{token}/{path}`: a published package's files behind a signed URL.

No Authorization header: the token in the path grants the whole package, so a player on any
origin loads the master playlist and everything it names relatively. The API streams each file
from storage (local directory or a private bucket) in bounded memory, with byte ranges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from vodforge.api.deps import ComponentsDep
from vodforge.api.errors import error_response
from vodforge.api.schemas import ErrorOut
from vodforge.playback.ranges import (
    RangeNotSatisfiable,
    etag_matches,
    parse_range,
    range_allowed,
)
from vodforge.playback.service import GrantedFile, PlaybackService
from vodforge.playback.signing import PLAY_ROUTE
from vodforge.storage.base import SpanReader

router = APIRouter(prefix=PLAY_ROUTE, tags=["playback"])

PLAY_PATH = "/{video_id}/{token}/{path:path}"

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file", "content": {"application/octet-stream": {}}},
    206: {"description": "The byte range asked for, with Content-Range"},
    304: {"description": "The copy named in If-None-Match is current"},
    403: {"model": ErrorOut, "description": "Malformed, tampered, expired or stale token"},
    404: {"model": ErrorOut, "description": "No READY video, or no such file in its package"},
    416: {"model": ErrorOut, "description": "The range starts past the end of the file"},
}


@router.get(PLAY_PATH, response_class=Response, responses=RESPONSES, summary="Play a file")
def play(
    video_id: str, token: str, path: str, request: Request, components: ComponentsDep
) -> Response:
    """A file of a READY video's package (master or variant playlist, init or media segment,
    poster, thumbnail), as its signed `playback_url` or `thumbnail_url` names it."""
    return answer(components.playback, request, video_id, token, path, send_body=True)


@router.head(PLAY_PATH, response_class=Response, responses=RESPONSES, summary="Check a file")
def play_head(
    video_id: str, token: str, path: str, request: Request, components: ComponentsDep
) -> Response:
    """The headers GET would answer with, and no body."""
    return answer(components.playback, request, video_id, token, path, send_body=False)


def answer(
    playback: PlaybackService,
    request: Request,
    video_id: str,
    token: str,
    path: str,
    *,
    send_body: bool,
) -> Response:
    file = playback.resolve(video_id, token, path)
    headers = file_headers(file, playback.cache_lifetime(file))
    if etag_matches(request.headers.get("if-none-match"), headers.get("ETag")):
        return Response(status_code=304, headers=headers)
    size = file.info.size
    span = None
    if range_allowed(
        request.headers.get("if-range"), headers.get("ETag"), headers.get("Last-Modified")
    ):
        try:
            span = parse_range(request.headers.get("range"), size)
        except RangeNotSatisfiable as exc:
            return error_response(
                416, "RANGE_NOT_SATISFIABLE", str(exc), {"Content-Range": f"bytes */{size}"}
            )
    offset, length, status = (0, size, 200) if span is None else (span.start, span.length, 206)
    if span is not None:
        headers["Content-Range"] = span.content_range(size)
    headers["Content-Length"] = str(length)
    if not send_body:
        return Response(status_code=status, headers=headers, media_type=file.content_type)
    reader = playback.open(file, offset, length)
    return StreamingResponse(
        relay(reader), status_code=status, headers=headers, media_type=file.content_type
    )


def file_headers(file: GrantedFile, cache_s: int) -> dict[str, str]:
    headers = {
        "Accept-Ranges": "bytes",
        # Public: the URL itself is the grant, so a shared cache (a CDN keyed on the full
        # path, token included) may keep a copy, but no longer than the token lives.
        "Cache-Control": f"public, max-age={cache_s}",
        # Set here, not only by the CORS middleware when Origin is sent: a cached copy must
        # work for a page on any origin, whichever request filled the cache.
        "Access-Control-Allow-Origin": "*",
        # Posters may be embedded by pages that isolate themselves (COEP require-corp).
        "Cross-Origin-Resource-Policy": "cross-origin",
        # Stored bytes are served from the API's origin: never let a browser sniff them as HTML.
        "X-Content-Type-Options": "nosniff",
    }
    if file.info.etag:
        headers["ETag"] = f'"{file.info.etag}"'
    if file.info.modified is not None:
        headers["Last-Modified"] = formatdate(file.info.modified, usegmt=True)
    return headers


async def relay(reader: SpanReader) -> AsyncIterator[bytes]:
    """The reader's chunks, each read on a worker thread; the file or connection behind it is
    released as soon as the response ends, also when the client hangs up half-way."""
    try:
        while chunk := await run_in_threadpool(next, reader, b""):
            yield chunk
    finally:
        # No read is in flight here: a cancelled await waits for its thread to finish.
        reader.close()
