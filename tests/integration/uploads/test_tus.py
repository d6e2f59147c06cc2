"""Resumable uploads with tus 1.0 under /v1/uploads/tus: a real tus client (tuspy) is cut off
mid-way and a new one resumes at the server's offset; the last byte makes the video; the
protocol's refusals (409, 412, 413, 415, 423) and termination, ownership and expiry."""

from __future__ import annotations

import base64
import os
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from tusclient.client import TusClient

from tests.integration.uploads.conftest import LIMIT
from tests.support.api import TenantKey
from tests.support.uploads import error_code, files_under, send_partial, wait_until
from vodforge.bootstrap import Components
from vodforge.cli.runtime import make_scheduler

TUS = "/v1/uploads/tus"
V1 = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}
CHUNK = 16 * 1024


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client: TestClient | httpx.Client, tenant: TenantKey, length: int, **meta: str) -> str:
    headers = {**tenant.headers, **V1, "Upload-Length": str(length)}
    if meta:
        headers["Upload-Metadata"] = metadata(**meta)
    response = client.post(TUS, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.headers["Location"])


def patch(
    client: TestClient | httpx.Client, tenant: TenantKey, url: str, offset: int, data: bytes
) -> httpx.Response:
    headers = {**tenant.headers, **V1, **OCTETS, "Upload-Offset": str(offset)}
    return client.patch(url, headers=headers, content=data)


def head(client: TestClient | httpx.Client, tenant: TenantKey, url: str) -> httpx.Response:
    return client.head(url, headers={**tenant.headers, **V1})


def test_a_cut_off_upload_resumes_at_the_servers_offset_and_becomes_a_video(
    live: httpx.Client, components: Components, alice: TenantKey, clip: Path, data_dir: Path
) -> None:
    data = clip.read_bytes()
    assert len(data) > 8 * CHUNK, "the clip must span several chunks"
    endpoint = f"{live.base_url}{TUS}"
    with clip.open("rb") as stream:
        first = TusClient(endpoint, headers=alice.headers).uploader(
            file_stream=stream,
            chunk_size=CHUNK,
            metadata={"filename": "clip.mp4", "title": "Resumed"},
        )
        for _ in range(3):
            first.upload_chunk()
    url = str(first.url)
    assert int(head(live, alice, url).headers["Upload-Offset"]) == 3 * CHUNK

    # The next PATCH loses its connection half-way through its body.
    headers = {**alice.headers, **V1, **OCTETS, "Upload-Offset": str(3 * CHUNK)}
    headers["Content-Length"] = str(CHUNK)
    send_partial(url, "PATCH", headers, data[3 * CHUNK : 3 * CHUNK + CHUNK // 2])
    # The bytes that did arrive are kept: the server's offset moved on by exactly them.
    assert wait_until(
        lambda: int(head(live, alice, url).headers["Upload-Offset"]) == 3 * CHUNK + CHUNK // 2
    )

    # A new client (a restarted browser tab) asks the server where to go on from.
    with clip.open("rb") as stream:
        second = TusClient(endpoint, headers=alice.headers).uploader(
            file_stream=stream, chunk_size=CHUNK, url=url
        )
        assert second.offset == 3 * CHUNK + CHUNK // 2
        second.upload()

    video_id = second.request.response_headers["vodforge-video-id"]
    video = live.get(f"/v1/videos/{video_id}", headers=alice.headers).json()
    assert video["title"] == "Resumed" and video["status"] == "UPLOADED"
    assert video["job"]["state"] == "QUEUED"
    source = components.videos_repo.get_video(video_id).source_key
    assert source == f"videos/{video_id}/source.mp4"
    assert components.storage.read_bytes(source) == data
    # The upload stays as a record of its video until it expires; its bytes moved out.
    after = head(live, alice, url)
    assert after.headers["Upload-Offset"] == str(len(data))
    assert after.headers["Vodforge-Video-Id"] == video_id
    assert [p.name for p in files_under(data_dir / "uploads")] == ["info.json", "lock"]


def test_the_final_patch_is_idempotent(client: TestClient, alice: TenantKey) -> None:
    url = create(client, alice, 10, filename="a.mp4")
    assert patch(client, alice, url, 0, b"01234").headers["Upload-Offset"] == "5"
    final = patch(client, alice, url, 5, b"56789")
    assert final.status_code == 204, final.text
    video_id = final.headers["Vodforge-Video-Id"]
    assert final.headers["Upload-Offset"] == "10"

    again = patch(client, alice, url, 10, b"")
    assert again.status_code == 204 and again.headers["Vodforge-Video-Id"] == video_id
    assert error_code(patch(client, alice, url, 10, b"more"), 413) == "PAYLOAD_TOO_LARGE"
    assert len(client.get("/v1/videos", headers=alice.headers).json()["items"]) == 1


def test_title_alone_names_the_video_and_the_upload_can_be_resumed(
    client: TestClient, alice: TenantKey
) -> None:
    url = create(client, alice, 4, title="Only a title")
    status = head(client, alice, url)
    assert status.status_code == 200
    assert status.headers["Upload-Metadata"] == metadata(title="Only a title")
    assert status.headers["Upload-Length"] == "4" and status.headers["Upload-Offset"] == "0"
    assert status.headers["Cache-Control"] == "no-store"
    video_id = patch(client, alice, url, 0, b"abcd").headers["Vodforge-Video-Id"]
    video = client.get(f"/v1/videos/{video_id}", headers=alice.headers).json()
    assert video["title"] == "Only a title"


def test_an_offset_that_is_not_the_servers_is_409(client: TestClient, alice: TenantKey) -> None:
    url = create(client, alice, 100, filename="a.mp4")
    patch(client, alice, url, 0, b"x" * 10)

    for wrong in (0, 5, 20):
        assert error_code(patch(client, alice, url, wrong, b"y" * 10), 409) == "CONFLICT"
    assert head(client, alice, url).headers["Upload-Offset"] == "10"


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0"])
def test_without_tus_resumable_1_0_0_every_call_is_412(
    client: TestClient, alice: TenantKey, version: str | None
) -> None:
    url = create(client, alice, 10, filename="a.mp4")
    headers = dict(alice.headers)
    if version is not None:
        headers["Tus-Resumable"] = version
    calls = [
        client.post(TUS, headers={**headers, "Upload-Length": "10"}),
        client.patch(url, headers={**headers, **OCTETS, "Upload-Offset": "0"}, content=b"x"),
        client.delete(url, headers=headers),
    ]
    for response in calls:
        assert error_code(response, 412) == "INVALID_REQUEST"
        assert response.headers["Tus-Version"] == "1.0.0"
    assert client.head(url, headers=headers).status_code == 412
    assert head(client, alice, url).headers["Upload-Offset"] == "0"


def test_an_upload_length_over_the_limit_is_413_at_creation(
    client: TestClient, alice: TenantKey, data_dir: Path
) -> None:
    response = client.post(TUS, headers={**alice.headers, **V1, "Upload-Length": str(LIMIT + 1)})
    assert error_code(response, 413) == "PAYLOAD_TOO_LARGE"
    assert files_under(data_dir / "uploads") == []
    create(client, alice, LIMIT, filename="a.mp4")  # the limit itself is fine


BAD_CREATIONS = {
    "no length": {},
    "zero length": {"Upload-Length": "0"},
    "length not a number": {"Upload-Length": "ten"},
    "deferred length": {"Upload-Defer-Length": "1"},
    "metadata not base64": {"Upload-Length": "5", "Upload-Metadata": "filename !!!"},
    "metadata key twice": {
        "Upload-Length": "5",
        "Upload-Metadata": f"{metadata(title='a')},{metadata(title='b')}",
    },
    "title not text": {
        "Upload-Length": "5",
        "Upload-Metadata": "title " + base64.b64encode(b"\xff\xfe").decode(),
    },
    "title with control characters": {
        "Upload-Length": "5",
        "Upload-Metadata": metadata(title="bad\x07title"),
    },
}


@pytest.mark.parametrize("headers", BAD_CREATIONS.values(), ids=BAD_CREATIONS)
def test_a_bad_creation_is_400(
    client: TestClient, alice: TenantKey, data_dir: Path, headers: dict[str, str]
) -> None:
    response = client.post(TUS, headers={**alice.headers, **V1, **headers})
    assert error_code(response, 400) == "INVALID_REQUEST"
    assert files_under(data_dir / "uploads") == []


def test_a_patch_must_be_an_offset_octet_stream_at_a_given_offset(
    client: TestClient, alice: TenantKey
) -> None:
    url = create(client, alice, 10, filename="a.mp4")
    base = {**alice.headers, **V1}
    wrong_type = client.patch(
        url,
        headers={**base, "Content-Type": "video/mp4", "Upload-Offset": "0"},
        content=b"x",
    )
    assert error_code(wrong_type, 415) == "UNSUPPORTED_MEDIA_TYPE"
    no_offset = client.patch(url, headers={**base, **OCTETS}, content=b"x")
    assert error_code(no_offset, 400) == "INVALID_REQUEST"
    assert head(client, alice, url).headers["Upload-Offset"] == "0"


def test_bytes_past_upload_length_refuse_the_whole_patch(
    live: httpx.Client, alice: TenantKey
) -> None:
    url = create(live, alice, 10, filename="a.mp4")
    patch(live, alice, url, 0, b"abc")
    declared = patch(live, alice, url, 3, b"x" * 8)
    assert error_code(declared, 413) == "PAYLOAD_TOO_LARGE"
    # Sent chunked, only the bytes themselves show it: what this PATCH wrote is undone.
    streamed = live.patch(
        url,
        headers={**alice.headers, **V1, **OCTETS, "Upload-Offset": "3"},
        content=iter([b"defg", b"hijk"]),
    )
    assert error_code(streamed, 413) == "PAYLOAD_TOO_LARGE"
    assert head(live, alice, url).headers["Upload-Offset"] == "3"
    assert patch(live, alice, url, 3, b"defghij").headers["Upload-Offset"] == "10"


def test_a_patch_while_another_one_writes_is_423(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    url = create(client, alice, 10, filename="a.mp4")
    upload_id = url.rsplit("/", 1)[1]
    tenant = components.tenants.authenticate(alice.key)
    with components.uploads.tus.locked(upload_id, tenant.id):
        assert error_code(patch(client, alice, url, 0, b"x"), 423) == "CONFLICT"
        assert error_code(client.delete(url, headers={**alice.headers, **V1}), 423) == "CONFLICT"
    assert patch(client, alice, url, 0, b"x").status_code == 204


def test_another_tenants_upload_is_404_to_every_call(
    client: TestClient, alice: TenantKey, bob: TenantKey
) -> None:
    url = create(client, alice, 10, filename="a.mp4")
    patch(client, alice, url, 0, b"abc")

    assert head(client, bob, url).status_code == 404
    assert error_code(patch(client, bob, url, 3, b"defg"), 404) == "NOT_FOUND"
    assert error_code(client.delete(url, headers={**bob.headers, **V1}), 404) == "NOT_FOUND"
    assert head(client, alice, url).headers["Upload-Offset"] == "3"
    not_an_id = url.rsplit("/", 1)[0] + "/..%2F..%2Fsecret"
    assert head(client, alice, not_an_id).status_code == 404


def test_termination_removes_the_upload(
    client: TestClient, alice: TenantKey, data_dir: Path
) -> None:
    url = create(client, alice, 10, filename="a.mp4")
    patch(client, alice, url, 0, b"abc")

    response = client.delete(url, headers={**alice.headers, **V1})
    assert response.status_code == 204 and response.headers["Tus-Resumable"] == "1.0.0"
    assert files_under(data_dir / "uploads") == []
    assert head(client, alice, url).status_code == 404
    assert error_code(patch(client, alice, url, 3, b"d"), 404) == "NOT_FOUND"
    assert client.get("/v1/videos", headers=alice.headers).json()["items"] == []


def test_abandoned_uploads_expire_and_the_scheduler_removes_them(
    client: TestClient, components: Components, alice: TenantKey, data_dir: Path
) -> None:
    expiry = components.settings.upload_expiry_s
    created = client.post(
        TUS, headers={**alice.headers, **V1, "Upload-Length": "10", "Upload-Metadata": ""}
    )
    url = created.headers["Location"]
    expires = parsedate_to_datetime(created.headers["Upload-Expires"]).timestamp()
    assert abs(expires - (time.time() + expiry)) < 5
    patch(client, alice, url, 0, b"abc")
    done_url = create(client, alice, 2, filename="done.mp4")
    patch(client, alice, done_url, 0, b"ok")
    # A staging file left behind by a process that died mid-upload.
    leftover = components.uploads.new_staging_file()
    leftover.write_bytes(b"partial")
    os.utime(leftover, (time.time() - expiry - 60, time.time() - expiry - 60))
    scheduler, _ = make_scheduler(components)

    assert scheduler.tick().purged == [f"staging:{leftover.name}"]  # the uploads are not idle yet
    assert head(client, alice, url).status_code == 200
    later = time.time() + expiry + 1
    components.uploads.tus.clock = lambda: later

    assert head(client, alice, url).status_code == 404  # expired, even before it is removed
    report = scheduler.tick()

    upload_ids = {url.rsplit("/", 1)[1], done_url.rsplit("/", 1)[1]}
    assert set(report.purged) == {f"tus:{upload_id}" for upload_id in upload_ids}
    assert files_under(data_dir / "uploads") == []
    # The video the finished upload made is not touched.
    assert len(client.get("/v1/videos", headers=alice.headers).json()["items"]) == 1


def test_a_slow_upload_is_not_abandoned_while_bytes_arrive(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    url = create(client, alice, 10, filename="a.mp4")
    upload_id = url.rsplit("/", 1)[1]
    start = time.time()
    data = components.uploads.tus.data_path(upload_id)
    os.utime(data, (start - 10, start - 10))
    components.uploads.tus.clock = lambda: start + components.settings.upload_expiry_s - 5
    patch(client, alice, url, 0, b"abc")  # activity now: the expiry moves on

    assert components.uploads.remove_abandoned() == []
    assert head(client, alice, url).headers["Upload-Offset"] == "3"


def test_options_says_what_the_server_supports_without_a_key(client: TestClient) -> None:
    response = client.options(TUS)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "expiration",
        "termination",
    }
    assert response.headers["Tus-Max-Size"] == str(LIMIT)


def test_a_browser_on_another_origin_can_read_the_tus_headers(
    client: TestClient, alice: TenantKey
) -> None:
    origin = {"Origin": "https://customer.example"}
    preflight = client.options(
        TUS,
        headers={
            **origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,tus-resumable,upload-offset",
        },
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    created = client.post(TUS, headers={**origin, **alice.headers, **V1, "Upload-Length": "3"})
    exposed = {
        h.strip().lower() for h in created.headers["Access-Control-Expose-Headers"].split(",")
    }
    wanted = {"location", "upload-offset", "upload-length", "upload-expires", "tus-resumable"}
    assert wanted | {"vodforge-video-id", "tus-version", "tus-max-size"} <= exposed
