"""The one root exception and the stable error codes that users and scripts see."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable codes stored on videos and printed by the CLI and API."""

    # Rejected input (permanent: never retried).
    INVALID_INPUT = "INVALID_INPUT"
    NO_VIDEO_STREAM = "NO_VIDEO_STREAM"
    INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    # Failures of the machinery (retryable unless attempts are exhausted).
    TRANSCODE_FAILED = "TRANSCODE_FAILED"
    TRANSCODE_TIMEOUT = "TRANSCODE_TIMEOUT"
    OUTPUT_INVALID = "OUTPUT_INVALID"
    STORAGE_ERROR = "STORAGE_ERROR"
    DISK_FULL = "DISK_FULL"  # the worker's scratch (or local storage's) file system
    WORKER_LOST = "WORKER_LOST"
    ATTEMPTS_EXHAUSTED = "ATTEMPTS_EXHAUSTED"
    DEAD_LETTERED = "DEAD_LETTERED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # Operator and API errors.
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    CONFIG_ERROR = "CONFIG_ERROR"
    INVALID_REQUEST = "INVALID_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"


class VodforgeError(Exception):
    """Something went wrong in vodforge."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR
    retryable: bool = False
    # The HTTP status the API answers with; one exception handler maps every error.
    http_status: int = 500

    def __init__(self, message: str | None = None, *, code: ErrorCode | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(VodforgeError):
    """The configuration is invalid."""

    code = ErrorCode.CONFIG_ERROR


class NotFound(VodforgeError):
    """No such object."""

    code = ErrorCode.NOT_FOUND
    http_status = 404


class Conflict(VodforgeError):
    """The object is not in a state that allows this."""

    code = ErrorCode.CONFLICT
    http_status = 409


class InvalidRequest(VodforgeError):
    """The request is malformed or its arguments are out of range."""

    code = ErrorCode.INVALID_REQUEST
    http_status = 400


class Unauthorized(VodforgeError):
    """A valid API key is required: send `Authorization: Bearer <key>`."""

    code = ErrorCode.UNAUTHORIZED
    http_status = 401


class Forbidden(VodforgeError):
    """The signature or token does not allow this request."""

    code = ErrorCode.FORBIDDEN
    http_status = 403


class RateLimited(VodforgeError):
    """Too many failed attempts from this client; try again after `retry_after_s` seconds."""

    code = ErrorCode.RATE_LIMITED
    http_status = 429

    def __init__(self, message: str | None = None, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(VodforgeError):
    """The upload is larger than the configured limit."""

    code = ErrorCode.PAYLOAD_TOO_LARGE
    http_status = 413


class Unavailable(VodforgeError):
    """A dependency (database, storage) cannot be reached right now; try again later."""

    code = ErrorCode.UNAVAILABLE
    http_status = 503
    retryable = True


class InputRejected(VodforgeError):
    """The uploaded file was rejected; retrying will not help."""

    code = ErrorCode.INVALID_INPUT
    retryable = False
    http_status = 422


class RetryableError(VodforgeError):
    """A failure that another attempt may not repeat (signal, timeout, storage 5xx)."""

    code = ErrorCode.TRANSCODE_FAILED
    retryable = True


class PermanentError(VodforgeError):
    """A failure that another attempt would repeat."""

    code = ErrorCode.TRANSCODE_FAILED
    retryable = False


class StopRequested(VodforgeError):
    """The job was told to stop (cancel or lost lease); its result must not be used."""

    code = ErrorCode.INTERNAL_ERROR
