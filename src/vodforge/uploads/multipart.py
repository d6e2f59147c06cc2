"""A multipart/form-data body parsed as it streams: the `file` part goes straight to a staging
file, `title` is kept, and limits are enforced on the bytes as they arrive.

python-multipart's push parser sees each chunk once and keeps nothing of the file part, so the
memory a request costs is one chunk whatever the size of the upload (Starlette's
`request.form()` would spool it and hand over a SpooledTemporaryFile instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from vodforge.errors import ErrorCode, InvalidRequest, PayloadTooLarge, VodforgeError
from vodforge.videos.service import check_filename

FILE_FIELD = "file"
TITLE_FIELD = "title"
MAX_FIELD_BYTES = 4096  # a title is at most 500 characters: anything longer is not one
# Room for the envelope (boundaries, part headers, a title) on top of the file itself.
ENVELOPE_BYTES = 64 * 1024
BATCH_BYTES = 1024 * 1024


class UnsupportedMediaType(VodforgeError):
    """Send the upload as multipart/form-data with a `file` part."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    http_status = 415


@dataclass(frozen=True)
class FormUpload:
    filename: str | None
    title: str | None
    file_bytes: int


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary from a Content-Type header; 415 for another media type."""
    media_type, options = parse_options_header(content_type or "")
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaType(
            f"expected multipart/form-data with a {FILE_FIELD!r} part,"
            f" got {(content_type or 'no Content-Type')[:80]!r}"
        )
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise InvalidRequest("the multipart Content-Type has no usable boundary")
    return boundary


def check_declared_length(content_length: str | None, max_file_bytes: int) -> None:
    """Refuse an upload by its Content-Length before reading a byte of it."""
    if content_length is None:
        return  # chunked: counted as the bytes arrive
    try:
        declared = int(content_length)
    except ValueError:
        raise InvalidRequest("Content-Length is not a number") from None
    if declared > max_file_bytes + ENVELOPE_BYTES:
        raise PayloadTooLarge(
            f"the request is {declared} bytes; uploads are limited to {max_file_bytes} bytes"
        )


class FormStager:
    """Feed it the body's bytes in order; it writes the file part to `out`."""

    def __init__(self, boundary: bytes, out: BinaryIO, max_file_bytes: int) -> None:
        self.out = out
        self.max_file_bytes = max_file_bytes
        self.body_bytes = 0
        self.file_bytes = 0
        self.filename: str | None = None
        self.title: str | None = None
        self.finished = False
        self._files_seen = 0
        self._part: str | None = None  # "file", "title" or "skip"
        self._field = bytearray()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._disposition: bytes | None = None
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def feed(self, chunks: Sequence[bytes]) -> None:
        for data in chunks:
            self.body_bytes += len(data)
            if self.body_bytes > self.max_file_bytes + ENVELOPE_BYTES:
                raise PayloadTooLarge(f"uploads are limited to {self.max_file_bytes} bytes")
            try:
                self._parser.write(data)
            except MultipartParseError as exc:
                raise InvalidRequest(f"malformed multipart body: {exc}") from None

    def result(self) -> FormUpload:
        """What arrived, once the body has ended; 400 unless it was a whole form with a file."""
        if not self.finished:
            raise InvalidRequest("the multipart body ended before its closing boundary")
        if self._files_seen != 1:
            raise InvalidRequest(f"send exactly one {FILE_FIELD!r} part")
        if self.file_bytes == 0:
            raise InvalidRequest(f"the {FILE_FIELD!r} part is empty")
        return FormUpload(self.filename, self.title, self.file_bytes)

    # -- parser callbacks ------------------------------------------------------------------

    def _part_begin(self) -> None:
        self._part = None
        self._disposition = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_field).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        kind, options = parse_options_header(self._disposition)
        if kind != b"form-data" or b"name" not in options:
            raise InvalidRequest("a multipart part has no Content-Disposition: form-data name")
        name = options[b"name"].decode("utf-8", "replace")
        if name == FILE_FIELD:
            self._files_seen += 1
            if self._files_seen > 1:
                raise InvalidRequest(f"send exactly one {FILE_FIELD!r} part")
            self.filename = _filename(options.get(b"filename"))
            self._part = FILE_FIELD
        elif name == TITLE_FIELD:
            self._part = TITLE_FIELD
            self._field.clear()
        else:
            self._part = "skip"  # unknown fields are ignored, and never kept

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._part == FILE_FIELD:
            self.file_bytes += size
            if self.file_bytes > self.max_file_bytes:
                raise PayloadTooLarge(f"the file is over the {self.max_file_bytes} byte limit")
            # A view, not a slice: the file's bytes are not copied once more on the way.
            self.out.write(memoryview(data)[start:end])
        elif self._part == TITLE_FIELD:
            if len(self._field) + size > MAX_FIELD_BYTES:
                raise InvalidRequest(f"the {TITLE_FIELD!r} field is too long")
            self._field += data[start:end]
        elif self._part is None:
            raise InvalidRequest("multipart data before the part's headers")

    def _part_end(self) -> None:
        if self._part == TITLE_FIELD:
            try:
                self.title = bytes(self._field).decode("utf-8") or None
            except UnicodeDecodeError:
                raise InvalidRequest(f"the {TITLE_FIELD!r} field is not UTF-8") from None
        self._part = None

    def _end(self) -> None:
        self.finished = True


def _filename(raw: bytes | None) -> str | None:
    """The file part's name as text, refused as soon as its headers arrive (not after the
    whole file) unless it is UTF-8 without control characters, as a title must be."""
    if not raw:
        return None
    try:
        return check_filename(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("the file name is not UTF-8 text") from None


class Batches:
    """A request body's chunks gathered into batches of about `size` bytes, so that each hop to
    a worker thread carries a useful amount of work (the chunks are handed over as they are,
    never joined: that would copy every byte once more); one batch is held at a time.

    When the source fails with one of `cut_by` (the client went away, or was too slow), the
    bytes that did arrive are still yielded, then `cut` holds that error and the iteration ends.
    """

    def __init__(
        self,
        chunks: AsyncIterable[bytes],
        size: int = BATCH_BYTES,
        cut_by: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.chunks = chunks
        self.size = size
        self.cut_by = cut_by
        self.cut: BaseException | None = None

    async def __aiter__(self) -> AsyncIterator[list[bytes]]:
        pending: list[bytes] = []
        held = 0
        source = aiter(self.chunks)
        while True:
            try:
                chunk = await anext(source)
            except StopAsyncIteration:
                break
            except self.cut_by as exc:
                self.cut = exc
                break
            if not chunk:
                continue
            pending.append(chunk)
            held += len(chunk)
            if held >= self.size:
                yield pending
                pending = []
                held = 0
        if pending:
            yield pending
