"""Malformed multipart bodies on `POST /v1/videos` beyond those of
tests/integration/uploads/test_multipart.py: a boundary other than the announced one, bodies cut
inside a part's headers, oversized or too many part headers, file names with NUL, control or
non-UTF-8 bytes. Each is a 4xx in the API's error shape with a stable code, stores nothing and
makes no video; a bad part header is refused as soon as it arrives, before the file is read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.databases import SqliteDatabases
from tests.support.hostile import (
    BOUNDARY,
    FORM,
    MIB,
    HostileApi,
    closed_within,
    form_end,
    hostile_api,
    part,
    pour,
    read_response,
    request_head,
    snapshot,
)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, sqlite_databases: SqliteDatabases
) -> Iterator[HostileApi]:
    # One server for the module: every case below must leave it exactly as it found it. A
    # larger upload limit than the tier's, to show refusals come long before it.
    root = tmp_path_factory.mktemp("multipart")
    with hostile_api(root, sqlite_databases, VODFORGE_MAX_FILE_BYTES=str(64 * MIB)) as api:
        yield api


BAD = "INVALID_REQUEST"
DELIMITER = f"--{BOUNDARY}\r\n".encode()

MALFORMED: dict[str, tuple[str, bytes, int, str]] = {
    "another boundary than announced": (
        FORM,
        part("file", b"x", "a.mp4", boundary="another-boundary") + form_end("another-boundary"),
        400,
        BAD,
    ),
    "boundary announced quoted with junk": (
        f'multipart/form-data; boundary="{BOUNDARY}\x7f"',
        part("file", b"x", "a.mp4") + form_end(),
        400,
        BAD,
    ),
    "empty boundary": ("multipart/form-data; boundary=", part("file", b"x", "a.mp4"), 400, BAD),
    "boundary of 300 characters": (
        "multipart/form-data; boundary=" + "b" * 300,
        part("file", b"x", "a.mp4", boundary="b" * 300) + form_end("b" * 300),
        400,
        BAD,
    ),
    "multipart/mixed": (
        f"multipart/mixed; boundary={BOUNDARY}",
        part("file", b"x", "a.mp4") + form_end(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "garbage before the first boundary": (
        FORM,
        b"preamble that is not a boundary\r\n" + part("file", b"x", "a.mp4") + form_end(),
        400,
        BAD,
    ),
    "cut inside the part headers": (
        FORM,
        DELIMITER + b'Content-Disposition: form-data; name="fi',
        400,
        BAD,
    ),
    "cut right after the first boundary": (FORM, DELIMITER[:-2], 400, BAD),
    "cut after the part headers": (
        FORM,
        DELIMITER + b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n',
        400,
        BAD,
    ),
    "part header without a colon": (
        FORM,
        DELIMITER + b"Content-Disposition form-data\r\n\r\nx\r\n" + form_end(),
        400,
        BAD,
    ),
    "part header of 100 KB": (
        FORM,
        part("file", b"x", "a.mp4", extra_headers=b"X-Big: " + b"a" * 100_000 + b"\r\n")
        + form_end(),
        400,
        BAD,
    ),
    "file name of 100 KB": (
        FORM,
        part("file", b"x", "a" * 100_000 + ".mp4") + form_end(),
        400,
        BAD,
    ),
    "a thousand part headers": (
        FORM,
        part("file", b"x", "a.mp4", extra_headers=b"".join(b"X-%d: a\r\n" % n for n in range(1000)))
        + form_end(),
        400,
        BAD,
    ),
    "no file field, other fields": (
        FORM,
        part("title", b"A title") + part("upload", b"x", "a.mp4") + form_end(),
        400,
        BAD,
    ),
    "two file fields around a title": (
        FORM,
        part("file", b"x", "a.mp4")
        + part("title", b"t")
        + part("file", b"y", "b.mp4")
        + form_end(),
        400,
        BAD,
    ),
    "file name with NUL": (FORM, part("file", b"x", b"a\x00b.mp4") + form_end(), 400, BAD),
    "file name with ESC": (FORM, part("file", b"x", b"a\x1b[31mb.mp4") + form_end(), 400, BAD),
    "file name with DEL": (FORM, part("file", b"x", b"a\x7fb.mp4") + form_end(), 400, BAD),
    "file name with a bare CR": (FORM, part("file", b"x", b"a\rb.mp4") + form_end(), 400, BAD),
    "file name not UTF-8": (FORM, part("file", b"x", b"\xff\xfe.mp4") + form_end(), 400, BAD),
    "file name in Latin-1": (FORM, part("file", b"x", b"caf\xe9.mp4") + form_end(), 400, BAD),
    "title with NUL": (
        FORM,
        part("title", b"a\x00b") + part("file", b"x", "a.mp4") + form_end(),
        400,
        BAD,
    ),
    "title in Latin-1": (
        FORM,
        part("title", b"caf\xe9") + part("file", b"x", "a.mp4") + form_end(),
        400,
        BAD,
    ),
}


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"), MALFORMED.values(), ids=MALFORMED
)
def test_a_malformed_multipart_body_is_a_4xx_that_stores_nothing(
    api: HostileApi, content_type: str, body: bytes, status: int, code: str
) -> None:
    before = snapshot(api.root)
    with api.client() as client:
        response = client.post(
            "/v1/videos", headers={**api.alice.headers, "Content-Type": content_type}, content=body
        )
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]
        # The server is unharmed.
        assert client.get("/v1/videos", headers=api.alice.headers).json()["items"] == []
    assert snapshot(api.root) == before
    assert api.video_count() == 0


@pytest.mark.parametrize(
    "bad_part",
    [
        part("file", b"", b"a\x00.mp4")[:-2],
        part("file", b"", b"\xff.mp4")[:-2],
        part("file", b"", "a.mp4", extra_headers=b"X-Big: " + b"a" * 10_000 + b"\r\n")[:-2],
    ],
    ids=["NUL in the file name", "file name not UTF-8", "oversized part header"],
)
def test_a_bad_part_header_is_refused_before_the_file_is_read(
    api: HostileApi, bad_part: bytes
) -> None:
    declared = 60 * MIB  # under the upload limit: only the part's headers are wrong
    headers = {**api.alice.headers, "Content-Type": FORM, "Content-Length": str(declared)}
    before = snapshot(api.root)
    with api.connect() as sock:
        sock.sendall(request_head("POST", "/v1/videos", headers) + bad_part)
        sent = pour(sock, b"x" * 64 * 1024, total=declared)
        # Answered with most of the body unsent (the parser takes 1 MiB batches; socket
        # buffers hold a few MiB), and the connection closed.
        assert sent < 16 * MIB
        response = read_response(sock, timeout=5)
        assert response.error_code(400) == "INVALID_REQUEST"
        assert response.headers["connection"] == "close"
        assert closed_within(sock, 2)[0]
    assert snapshot(api.root) == before
    assert api.video_count() == 0
