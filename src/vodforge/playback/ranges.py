"""HTTP byte ranges (RFC 9110 §14) as pure functions: which span of an object to send."""

from __future__ import annotations

import re
from dataclasses import dataclass

# [0-9], not \d (which also matches other scripts' digits); at most 18 of them, so int() stays
# cheap and a longer number is simply not a range we honour.
_SINGLE_RANGE = re.compile(
    r"bytes[ \t]*=[ \t]*([0-9]{0,18})[ \t]*-[ \t]*([0-9]{0,18})[ \t]*", re.IGNORECASE
)


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the object does not have (answer 416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as Content-Range writes it

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single span a Range header asks for, clamped to an object of `size` bytes.

    None means "send the whole object": no header, a malformed one, another unit, or several
    ranges (RFC 9110 lets a server ignore Range; players ask for one span, so multipart
    answers are not worth their complexity). Raise RangeNotSatisfiable when a well-formed
    range starts past the end, or asks for a zero-length suffix.
    """
    if header is None:
        return None
    match = _SINGLE_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        if not last:
            return None  # "bytes=-" is not a range
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"no last {suffix} bytes of a {size}-byte object")
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid syntax: RFC 9110 says ignore the header
    if start >= size:
        raise RangeNotSatisfiable(f"byte {start} is past the end of a {size}-byte object")
    return ByteRange(start, min(int(last), size - 1) if last else size - 1)


def etag_matches(header: str | None, etag: str | None) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, RFC 9110 §13.1.2)."""
    if header is None or etag is None:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def range_allowed(if_range: str | None, etag: str | None, last_modified: str | None) -> bool:
    """Whether a Range may be honoured under an If-Range precondition (RFC 9110 §13.1.5): an
    entity tag must match strongly, a date must equal Last-Modified exactly; otherwise the
    client's partial copy is stale and it gets the whole object."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('"') or value.startswith("W/"):
        return etag is not None and value == etag
    return last_modified is not None and value == last_modified
