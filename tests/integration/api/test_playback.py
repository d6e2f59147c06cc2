"""Signed playback: a READY video's playback_url loads every file of its package with no
Authorization header, and nothing else loads: not with an expired, tampered, foreign or stale
token, and never a file outside the package."""

from __future__ import annotations

import http.client
import re
import time
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.support.api import TenantKey, live_server
from tests.support.errors import assert_error
from tests.support.playback import (
    package_files,
    package_of,
    path_of,
    play_base,
    ready_with_files,
    republish,
)
from vodforge.api.app import create_app
from vodforge.bootstrap import Components
from vodforge.playback.service import MAX_CACHE_S
from vodforge.playback.signing import PLAY_ROUTE, PlaybackSigner


def playback_url(client: TestClient, tenant: TenantKey, video_id: str) -> str:
    body = client.get(f"/v1/videos/{video_id}", headers=tenant.headers).json()
    assert body["status"] == "READY", body
    url: str = body["playback_url"]
    return url


def test_every_file_of_the_package_loads_from_the_signed_url_with_no_header(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    files = package_files()
    video_id = ready_with_files(components, alice.key, files)
    body = client.get(f"/v1/videos/{video_id}", headers=alice.headers).json()
    url = body["playback_url"]
    assert re.fullmatch(
        rf"{re.escape(components.settings.public_url)}{PLAY_ROUTE}/{video_id}/\d+\.[\w-]+/master\.m3u8",
        url,
    ), url
    base = play_base(url)
    assert path_of(body["thumbnail_url"]) == base + "thumbnail.jpg"
    types = {
        "master.m3u8": "application/vnd.apple.mpegurl",
        "360p/index.m3u8": "application/vnd.apple.mpegurl",
        "360p/init.mp4": "video/mp4",
        "360p/seg_00001.m4s": "video/iso.segment",
        "poster.jpg": "image/jpeg",
        "thumbnail.jpg": "image/jpeg",
    }
    for name, data in files.items():
        response = client.get(base + name)
        assert response.status_code == 200, (name, response.text[:200])
        assert response.content == data, name
        assert response.headers["content-type"] == types[name]
        assert response.headers["content-length"] == str(len(data))
        assert response.headers["accept-ranges"] == "bytes"
        assert response.headers["etag"].startswith('"')
        assert response.headers["last-modified"].endswith(" GMT")
        assert response.headers["x-content-type-options"] == "nosniff"
        # Cross-origin readable even without an Origin header, so a cached copy serves any page.
        assert response.headers["access-control-allow-origin"] == "*"
        cache = response.headers["cache-control"]
        assert cache.startswith("public, max-age=")
        assert 0 < int(cache.rpartition("=")[2]) <= MAX_CACHE_S


def test_cache_lifetime_never_outlives_the_token(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = ready_with_files(components, alice.key, package_files())
    prefix = package_of(components, video_id)["prefix"]
    short = PlaybackSigner(components.signer.secret, base_url="", ttl_s=30)
    token = short.token(video_id, prefix)
    response = client.get(f"{PLAY_ROUTE}/{video_id}/{token}/master.m3u8")
    assert response.status_code == 200
    assert 25 <= int(response.headers["cache-control"].rpartition("=")[2]) <= 30


def test_head_answers_the_get_headers_without_a_body(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    files = package_files()
    video_id = ready_with_files(components, alice.key, files)
    base = play_base(playback_url(client, alice, video_id))
    head = client.head(base + "360p/seg_00001.m4s")
    get = client.get(base + "360p/seg_00001.m4s")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(files["360p/seg_00001.m4s"]))
    for name in ("content-type", "etag", "last-modified", "accept-ranges", "cache-control"):
        assert head.headers[name] == get.headers[name], name
    assert client.head(base + "nothing.m4s").status_code == 404


def test_byte_ranges(client: TestClient, components: Components, alice: TenantKey) -> None:
    files = package_files()
    data = files["360p/seg_00001.m4s"]
    size = len(data)
    video_id = ready_with_files(components, alice.key, files)
    url = play_base(playback_url(client, alice, video_id)) + "360p/seg_00001.m4s"

    cases = {
        "bytes=0-9": (0, 9),
        "bytes=100-": (100, size - 1),
        "bytes=-500": (size - 500, size - 1),
        "bytes=70000-999999999": (70000, size - 1),
        "bytes=-999999999": (0, size - 1),
    }
    for header, (start, end) in cases.items():
        response = client.get(url, headers={"Range": header})
        assert response.status_code == 206, header
        assert response.headers["content-range"] == f"bytes {start}-{end}/{size}", header
        assert response.headers["content-length"] == str(end - start + 1), header
        assert response.content == data[start : end + 1], header

    head = client.head(url, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206 and head.headers["content-length"] == "10"
    assert head.headers["content-range"] == f"bytes 10-19/{size}"

    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"):
        response = client.get(url, headers={"Range": header})
        assert_error(response, 416, "RANGE_NOT_SATISFIABLE")
        assert response.headers["content-range"] == f"bytes */{size}", header

    # Ignored, as RFC 9110 allows: several ranges, another unit, nonsense, a reversed range.
    for header in ("bytes=0-1,5-9", "items=0-1", "bytes=abc", "bytes=9-3"):
        response = client.get(url, headers={"Range": header})
        assert response.status_code == 200 and response.content == data, header


def test_conditional_requests(client: TestClient, components: Components, alice: TenantKey) -> None:
    files = package_files()
    video_id = ready_with_files(components, alice.key, files)
    url = play_base(playback_url(client, alice, video_id)) + "360p/seg_00001.m4s"
    etag = client.get(url).headers["etag"]

    unchanged = client.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200

    # If-Range: a matching validator keeps the range; a stale one gets the whole file.
    ranged = client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert ranged.status_code == 206 and ranged.content == files["360p/seg_00001.m4s"][:10]
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.content == files["360p/seg_00001.m4s"]


def test_an_expired_url_is_403(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = ready_with_files(components, alice.key, package_files())
    prefix = package_of(components, video_id)["prefix"]
    past = PlaybackSigner(
        components.signer.secret, base_url="", ttl_s=60, clock=lambda: time.time() - 3600
    )
    response = client.get(f"{PLAY_ROUTE}/{video_id}/{past.token(video_id, prefix)}/master.m3u8")
    error = assert_error(response, 403, "FORBIDDEN")
    assert "expired" in error["message"]
    assert response.headers["cache-control"] == "no-store"


def test_a_tampered_url_is_403(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = ready_with_files(components, alice.key, package_files())
    token = play_base(playback_url(client, alice, video_id)).split("/")[4]
    expires, _, signature = token.partition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    tampered = {
        "signature changed": f"{expires}.{flipped}",
        "expiry extended": f"{int(expires) + 86400}.{signature}",
        "signature dropped": f"{expires}.",
        "no expiry": f".{signature}",
        "not digits": f"1e9.{signature}",
        "unicode digits": f"²³.{signature}",
        "non-ASCII signature": f"{expires}.{signature[:-1]}é",
        "another key's signature": PlaybackSigner(b"other secret", base_url="", ttl_s=600).token(
            video_id, package_of(components, video_id)["prefix"]
        ),
    }
    for why, bad in tampered.items():
        response = client.get(f"{PLAY_ROUTE}/{video_id}/{bad}/master.m3u8")
        assert response.status_code == 403, (why, response.status_code, response.text)
        assert_error(response, 403, "FORBIDDEN")


def test_a_token_for_one_video_opens_no_other(
    client: TestClient, components: Components, alice: TenantKey, bob: TenantKey
) -> None:
    mine = ready_with_files(components, alice.key, package_files(), "a")
    other_same_tenant = ready_with_files(components, alice.key, package_files(), "b")
    other_tenant = ready_with_files(components, bob.key, package_files(), "c")
    token = play_base(playback_url(client, alice, mine)).split("/")[4]
    for video_id in (other_same_tenant, other_tenant):
        response = client.get(f"{PLAY_ROUTE}/{video_id}/{token}/master.m3u8")
        assert_error(response, 403, "FORBIDDEN")
    # Bob's own URL works without any key: the signature is the authority, not a tenant.
    assert client.get(path_of(playback_url(client, bob, other_tenant))).status_code == 200


def test_a_token_for_an_older_package_is_403_after_a_republish(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = ready_with_files(components, alice.key, package_files())
    old_url = playback_url(client, alice, video_id)
    assert client.get(path_of(old_url)).status_code == 200

    republish(components, video_id, package_files())

    assert_error(client.get(path_of(old_url)), 403, "FORBIDDEN")
    new_url = playback_url(client, alice, video_id)
    assert play_base(new_url) != play_base(old_url)
    assert client.get(path_of(new_url)).status_code == 200


def test_videos_that_cannot_play_are_404(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    """No READY video means no package to check the token against: 404, whatever the token."""
    playing = ready_with_files(components, alice.key, package_files())
    url = playback_url(client, alice, playing)
    token = play_base(url).split("/")[4]
    queued, _ = components.repo.create_video_and_job(
        components.tenants.authenticate(alice.key).id, "q", source_key="s", source_bytes=1
    )
    for video_id in ("7c4a8d09-ca37-4e1a-9a5b-0a9f8a3e3e3e", "not-a-uuid", queued):
        response = client.get(f"{PLAY_ROUTE}/{video_id}/{token}/master.m3u8")
        assert_error(response, 404, "NOT_FOUND")

    assert client.delete(f"/v1/videos/{playing}", headers=alice.headers).status_code == 200
    assert_error(client.get(path_of(url)), 404, "NOT_FOUND")


TRAVERSALS = [
    "../source.mp4",
    "../../source.mp4",
    "%2e%2e/%2e%2e/source.mp4",
    "..%2f..%2fsource.mp4",
    "%2E%2E%2F%2E%2E%2Fsource.mp4",
    "360p/../../../source.mp4",
    "..\\..\\source.mp4",
    "..%5c..%5csource.mp4",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "360p//seg_00001.m4s",
    ".hidden",
    "360p/%00seg_00001.m4s",
    "",
]


def test_paths_outside_the_package_are_404_and_read_nothing(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    """Sent raw over a socket: an HTTP client library would normalise '..' away first."""
    video_id = ready_with_files(components, alice.key, package_files())
    secret = b"SOURCE BYTES THAT MUST NOT LEAK"
    components.storage.put_bytes(f"videos/{video_id}/source.mp4", secret)
    base = play_base(playback_url(client, alice, video_id))
    answers = {}
    with live_server(create_app(components)) as server:
        host, port = urlsplit(server).hostname, urlsplit(server).port
        for path in TRAVERSALS:
            connection = http.client.HTTPConnection(host or "", port, timeout=10)
            try:
                connection.request("GET", base + path)
                response = connection.getresponse()
                body = response.read()
            finally:
                connection.close()
            assert secret not in body and b"root:" not in body, path
            # The play route itself refused it (not a router miss), having checked the token.
            answers[path] = (response.status, b"in this video's package" in body)
    assert answers == dict.fromkeys(TRAVERSALS, (404, True))
