"""The multipart stager on its own: however the body is cut into chunks, the staged file is
the file part byte for byte and the fields are read; limits and malformed bodies raise the
API's errors."""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.uploads import BOUNDARY, multipart_body, part_head
from vodforge.errors import InvalidRequest, PayloadTooLarge
from vodforge.uploads.multipart import (
    ENVELOPE_BYTES,
    FormStager,
    UnsupportedMediaType,
    boundary_of,
    check_declared_length,
)

CLOSING = f"\r\n--{BOUNDARY}--\r\n".encode()


def stage(body: bytes, cuts: list[int], limit: int = 10**9) -> tuple[FormStager, bytes]:
    out = io.BytesIO()
    stager = FormStager(BOUNDARY.encode(), out, limit)
    points = sorted({min(max(c, 0), len(body)) for c in cuts} | {0, len(body)})
    stager.feed([body[a:b] for a, b in itertools.pairwise(points)])
    return stager, out.getvalue()


@settings(max_examples=200, deadline=None)
@given(
    content=st.binary(max_size=3000).map(
        # Bytes that look like the boundary's start must stay content.
        lambda b: b + f"\r\n--{BOUNDARY[:10]}".encode() + b"\r\n\r\n--"
    ),
    title=st.text(
        alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), max_size=40
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30),
)
def test_any_chunking_stages_the_file_byte_for_byte(
    content: bytes, title: str, cuts: list[int]
) -> None:
    body = b"".join(multipart_body([content], filename="clip.mp4", title=title))
    stager, staged = stage(body, cuts)
    upload = stager.result()
    assert staged == content
    assert upload.file_bytes == len(content)
    assert upload.filename == "clip.mp4"
    assert upload.title == (title or None)


def test_the_file_limit_counts_the_file_part_only() -> None:
    body = b"".join(multipart_body([b"x" * 100], title="t" * 50))
    assert stage(body, [], limit=100)[0].result().file_bytes == 100
    with pytest.raises(PayloadTooLarge):
        stage(body, [], limit=99)


def test_the_whole_body_is_bounded_too() -> None:
    junk = part_head("note") + b"n" * (ENVELOPE_BYTES + 1000) + b"\r\n"
    body = junk + b"".join(multipart_body([b"x"]))
    with pytest.raises(PayloadTooLarge):
        stage(body, [], limit=10)


def test_a_body_without_its_closing_boundary_is_not_a_result() -> None:
    body = b"".join(multipart_body([b"x" * 10]))[: -len(CLOSING)]
    stager, _ = stage(body, [])
    with pytest.raises(InvalidRequest, match="closing boundary"):
        stager.result()


@pytest.mark.parametrize(
    ("content_type", "error"),
    [
        (None, UnsupportedMediaType),
        ("text/plain", UnsupportedMediaType),
        ("multipart/mixed; boundary=x", UnsupportedMediaType),
        ("multipart/form-data", InvalidRequest),
        ("multipart/form-data; boundary=" + "b" * 300, InvalidRequest),
    ],
)
def test_only_multipart_form_data_with_a_boundary(
    content_type: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        boundary_of(content_type)


def test_boundary_of_reads_a_quoted_boundary() -> None:
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"


@pytest.mark.parametrize(
    ("declared", "outcome"),
    [(None, None), ("100", None), (str(100 + ENVELOPE_BYTES), None)],
)
def test_a_declared_length_within_the_limit_passes(declared: str | None, outcome: None) -> None:
    assert check_declared_length(declared, 100) is outcome


def test_a_declared_length_over_the_limit_or_not_a_number_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        check_declared_length(str(101 + ENVELOPE_BYTES), 100)
    with pytest.raises(InvalidRequest):
        check_declared_length("lots", 100)
