"""One error shape for every failure: `{"error": {"code", "message"}}`, mapped in one place.

Domain errors carry their HTTP status; request validation is 400/422 with the field named;
a database that cannot be reached is 503; anything else is a 500 whose body never carries
a traceback (the traceback goes to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from vodforge.errors import ErrorCode, RateLimited, VodforgeError

log = logging.getLogger(__name__)

# What a 503 tells the client to wait: a database or storage outage that may well pass.
RETRY_UNAVAILABLE = {"Retry-After": "5"}
# An error answered before the body was read whole: closing the connection stops a client that
# is still sending, where keeping it alive would mean reading the rest for nothing.
CLOSE = {"Connection": "close"}

STATUS_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: "METHOD_NOT_ALLOWED",
    408: ErrorCode.REQUEST_TIMEOUT,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": str(code), "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    # An error is never reused: a cache (a CDN in front of the play route) must not keep a
    # 403, 404 or 503 after what caused it has changed.
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VodforgeError)
    async def domain_error(_request: Request, exc: VodforgeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after_s)}
        status = exc.http_status
        if status >= 500 and exc.retryable:
            # A dependency failing for now (storage 5xx or unreachable during an upload): the
            # client's retry may well succeed, so say so, as for a database outage.
            status, headers = 503, RETRY_UNAVAILABLE
        if status >= 500:
            log.warning("request failed: %s: %s", exc.code.value, exc.message)
        return error_response(status, exc.code.value, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return error_response(422, ErrorCode.INVALID_REQUEST, "; ".join(problems) or "invalid")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, str(code), message, dict(exc.headers or {}))

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_down(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", str(exc).splitlines()[0][:200])
        return error_response(
            503,
            ErrorCode.UNAVAILABLE,
            "the database cannot be reached right now; try again shortly",
            RETRY_UNAVAILABLE,
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in a request", exc_info=exc)
        return error_response(500, ErrorCode.INTERNAL_ERROR, "internal error; see the server log")
