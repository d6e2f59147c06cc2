"""`POST /v1/videos`, a multipart body streamed to a staging file: a whole upload becomes an
UPLOADED video with a QUEUED job; a body over the limit, malformed or cut off is refused with
the error shape and leaves no staging file, no stored object and no video."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.uploads.conftest import LIMIT
from tests.support.api import TenantKey
from tests.support.uploads import (
    BOUNDARY,
    MIB,
    CountingChunks,
    error_code,
    files_under,
    multipart_body,
    multipart_headers,
    multipart_length,
    part_head,
    pattern_chunks,
    send_partial,
    wait_until,
)
from vodforge.bootstrap import Components


def assert_nothing_kept(components: Components, staging_dir: Path, storage_dir: Path) -> None:
    assert files_under(staging_dir) == []
    assert files_under(storage_dir) == []
    assert components.videos_repo.list_videos() == []


def test_an_upload_is_stored_byte_for_byte_and_queued(
    live: httpx.Client,
    components: Components,
    alice: TenantKey,
    clip: Path,
    staging_dir: Path,
    storage_dir: Path,
) -> None:
    data = clip.read_bytes()
    response = live.post(
        "/v1/videos",
        headers=alice.headers,
        files={"file": ("holiday.mp4", data, "video/mp4")},
        data={"title": "Holiday"},
    )

    assert response.status_code == 201, response.text
    video = response.json()
    assert video["title"] == "Holiday" and video["tenant"] == "alice"
    assert video["status"] == "UPLOADED"
    assert video["job"]["state"] == "QUEUED" and video["queue_position"] == 1
    stored = components.videos_repo.get_video(video["id"])
    assert stored.source_key == f"videos/{video['id']}/source.mp4"
    assert stored.source_bytes == len(data)
    assert components.storage.read_bytes(stored.source_key) == data
    assert files_under(staging_dir) == []
    assert live.get(f"/v1/videos/{video['id']}", headers=alice.headers).json()["id"] == video["id"]


def test_without_a_title_the_file_name_is_the_title(client: TestClient, alice: TenantKey) -> None:
    response = client.post(
        "/v1/videos", headers=alice.headers, files={"file": ("lecture 1.mov", b"\0" * 100)}
    )
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "lecture 1.mov"


def test_a_file_of_exactly_the_limit_is_accepted(
    live: httpx.Client, alice: TenantKey, staging_dir: Path
) -> None:
    response = live.post(
        "/v1/videos",
        headers={
            **multipart_headers(alice.headers),
            "Content-Length": str(multipart_length(LIMIT)),
        },
        content=multipart_body(pattern_chunks(LIMIT)),
    )
    assert response.status_code == 201, response.text
    assert files_under(staging_dir) == []


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(
    live: httpx.Client,
    components: Components,
    alice: TenantKey,
    staging_dir: Path,
    storage_dir: Path,
) -> None:
    size = 64 * LIMIT
    body = CountingChunks(multipart_body(pattern_chunks(size)))
    response = live.post(
        "/v1/videos",
        headers={**multipart_headers(alice.headers), "Content-Length": str(multipart_length(size))},
        content=body,
    )

    assert error_code(response, 413) == "PAYLOAD_TOO_LARGE"
    # The server answered and closed: the client stopped long before the end of its body.
    assert body.taken < size // 4
    assert_nothing_kept(components, staging_dir, storage_dir)


def test_a_chunked_body_over_the_limit_is_cut_off_at_the_limit(
    live: httpx.Client,
    components: Components,
    alice: TenantKey,
    staging_dir: Path,
    storage_dir: Path,
) -> None:
    size = 64 * LIMIT
    body = CountingChunks(multipart_body(pattern_chunks(size)))
    # A generator with no Content-Length goes out chunked: only the bytes say it is too big.
    response = live.post("/v1/videos", headers=multipart_headers(alice.headers), content=body)

    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert error_code(response, 413) == "PAYLOAD_TOO_LARGE"
    assert body.taken < size // 4
    assert_nothing_kept(components, staging_dir, storage_dir)


def file_part(content: bytes, filename: str = "a.mp4") -> bytes:
    return part_head("file", filename, "video/mp4") + content + b"\r\n"


END = f"--{BOUNDARY}--\r\n".encode()
FORM = f"multipart/form-data; boundary={BOUNDARY}"

MALFORMED = {
    "no content type": (None, file_part(b"x") + END, 415, "UNSUPPORTED_MEDIA_TYPE"),
    "json": ("application/json", b'{"file": "x"}', 415, "UNSUPPORTED_MEDIA_TYPE"),
    "urlencoded": ("application/x-www-form-urlencoded", b"file=x", 415, "UNSUPPORTED_MEDIA_TYPE"),
    "no boundary": ("multipart/form-data", file_part(b"x") + END, 400, "INVALID_REQUEST"),
    "garbage": (FORM, b"this is not multipart at all", 400, "INVALID_REQUEST"),
    "empty body": (FORM, b"", 400, "INVALID_REQUEST"),
    "no closing boundary": (FORM, file_part(b"x" * 1000), 400, "INVALID_REQUEST"),
    "no file part": (
        FORM,
        part_head("title") + b"only a title\r\n" + END,
        400,
        "INVALID_REQUEST",
    ),
    "two file parts": (FORM, file_part(b"x") + file_part(b"y") + END, 400, "INVALID_REQUEST"),
    "empty file": (FORM, file_part(b"") + END, 400, "INVALID_REQUEST"),
    "part without disposition": (
        FORM,
        f"--{BOUNDARY}\r\nContent-Type: video/mp4\r\n\r\nxx\r\n".encode() + END,
        400,
        "INVALID_REQUEST",
    ),
    "title too long": (
        FORM,
        part_head("title") + b"t" * 5000 + b"\r\n" + file_part(b"x") + END,
        400,
        "INVALID_REQUEST",
    ),
    "title with control characters": (
        FORM,
        part_head("title") + b"bad\x07title\r\n" + file_part(b"x") + END,
        400,
        "INVALID_REQUEST",
    ),
    "title not utf-8": (
        FORM,
        part_head("title") + b"\xff\xfe\r\n" + file_part(b"x") + END,
        400,
        "INVALID_REQUEST",
    ),
}


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"), MALFORMED.values(), ids=MALFORMED
)
def test_a_malformed_body_is_4xx_with_the_error_shape_and_keeps_nothing(
    live: httpx.Client,
    components: Components,
    alice: TenantKey,
    staging_dir: Path,
    storage_dir: Path,
    content_type: str | None,
    body: bytes,
    status: int,
    code: str,
) -> None:
    headers = dict(alice.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = live.post("/v1/videos", headers=headers, content=body)

    assert error_code(response, status) == code
    assert_nothing_kept(components, staging_dir, storage_dir)


def test_a_client_that_goes_away_mid_upload_leaves_no_staging_file(
    live: httpx.Client,
    components: Components,
    alice: TenantKey,
    staging_dir: Path,
    storage_dir: Path,
) -> None:
    size = 4 * MIB
    head = multipart_headers(alice.headers)
    head["Content-Length"] = str(multipart_length(size))
    first = b"".join(multipart_body(pattern_chunks(size)))[: size // 2]

    send_partial(f"{live.base_url}/v1/videos", "POST", head, first)

    assert wait_until(lambda: files_under(staging_dir) == [])
    assert_nothing_kept(components, staging_dir, storage_dir)
    # The server is fine afterwards.
    assert live.get("/v1/videos", headers=alice.headers).status_code == 200


def test_unknown_fields_are_ignored(client: TestClient, alice: TenantKey) -> None:
    body = part_head("note") + b"n" * 10_000 + b"\r\n" + file_part(b"x" * 10) + END
    response = client.post(
        "/v1/videos", headers={**alice.headers, "Content-Type": FORM}, content=body
    )
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "a.mp4"


def test_another_tenant_cannot_see_the_upload(
    client: TestClient, alice: TenantKey, bob: TenantKey
) -> None:
    response = client.post("/v1/videos", headers=alice.headers, files={"file": ("a.mp4", b"x")})
    video_id = response.json()["id"]
    assert error_code(client.get(f"/v1/videos/{video_id}", headers=bob.headers), 404) == "NOT_FOUND"
