"""CORS as a browser on another origin sees it: preflights for playback (Range), the public API
(Authorization) and tus uploads are allowed, and responses expose the headers players and
tus clients read. No credentials are ever allowed."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.testclient import TestClient

from tests.support.api import TenantKey
from tests.support.errors import assert_error
from tests.support.playback import package_files, play_base, ready_with_files
from vodforge.bootstrap import Components
from vodforge.playback.signing import PLAY_ROUTE

ORIGIN = "https://customer.example"


def preflight(client: TestClient, path: str, method: str, headers: str) -> dict[str, str]:
    response = client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    assert method in response.headers["access-control-allow-methods"].split(", ")
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {h.strip().lower() for h in headers.split(",")} <= allowed
    return dict(response.headers)


def exposed(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("access-control-expose-headers", "")
    return {h.strip().lower() for h in value.split(",") if h.strip()}


def test_a_player_preflight_for_a_ranged_segment_is_allowed(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    video_id = ready_with_files(components, alice.key, package_files())
    url = client.get(f"/v1/videos/{video_id}", headers=alice.headers).json()["playback_url"]
    segment = play_base(url) + "360p/seg_00001.m4s"
    headers = preflight(client, segment, "GET", "range")
    assert int(headers["access-control-max-age"]) > 0

    ranged = client.get(segment, headers={"Origin": ORIGIN, "Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.headers["access-control-allow-origin"] == "*"
    assert {"content-length", "content-range", "accept-ranges"} <= exposed(ranged.headers)

    # A refusal is readable by the page too, so a player can tell "expired" from a network
    # failure; and it is never cached.
    forged = f"{PLAY_ROUTE}/{video_id}/4102444800.forged/master.m3u8"
    denied = client.get(forged, headers={"Origin": ORIGIN})
    assert_error(denied, 403, "FORBIDDEN")
    assert denied.headers["access-control-allow-origin"] == "*"
    assert denied.headers["cache-control"] == "no-store"


def test_the_public_api_answers_pages_on_other_origins(
    client: TestClient, alice: TenantKey
) -> None:
    preflight(client, "/v1/videos", "GET", "authorization")
    preflight(client, "/v1/videos/some-id", "DELETE", "authorization")
    listed = client.get("/v1/videos", headers={"Origin": ORIGIN, **alice.headers})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == "*"
    unauthorized = client.get("/v1/videos", headers={"Origin": ORIGIN})
    assert_error(unauthorized, 401, "UNAUTHORIZED")
    assert unauthorized.headers["access-control-allow-origin"] == "*"


def test_tus_clients_on_other_origins_may_send_and_read_the_tus_headers(
    client: TestClient, alice: TenantKey
) -> None:
    tus_request_headers = (
        "authorization, tus-resumable, upload-length, upload-metadata, upload-offset, "
        "content-type, x-http-method-override"
    )
    for method in ("POST", "PATCH", "HEAD", "DELETE"):
        preflight(client, "/v1/uploads/tus", method, tus_request_headers)
    response = client.get("/v1/videos", headers={"Origin": ORIGIN, **alice.headers})
    assert {
        "location",
        "upload-offset",
        "upload-length",
        "upload-expires",
        "tus-resumable",
        "tus-version",
        "tus-extension",
        "tus-max-size",
        "vodforge-video-id",
    } <= exposed(response.headers)


def test_credentials_are_never_allowed(client: TestClient, alice: TenantKey) -> None:
    response = client.get("/v1/videos", headers={"Origin": ORIGIN, **alice.headers})
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["access-control-allow-origin"] == "*"
