"""Who may call what: every way a tenant key can be wrong is a 401 with the error shape and
WWW-Authenticate; every public route wants a key and every internal route the token.

Routes are found from the app, so routes added later are covered without editing this file.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.support.api import INTERNAL_TOKEN, TenantKey
from tests.support.errors import assert_error
from tests.support.routes import RouteCall, route_calls
from vodforge.bootstrap import Components

BAD_AUTHORIZATION = {
    "no header": None,
    "wrong scheme": "Basic YWxpY2U6c2VjcmV0",
    "scheme only": "Bearer",
    "malformed key": "Bearer not-a-vodforge-key",
    "oversized key": "Bearer vf_" + "a" * 300,
    "unknown key": "Bearer vf_" + "x" * 43,
}


def public_routes(client: TestClient) -> list[RouteCall]:
    """Routes under /v1/ that take a tenant key. Playback (/v1/play/) is signed URLs with no
    header by design; OPTIONS is a CORS preflight or tus discovery, which carry no key."""
    return [
        call
        for call in route_calls(client.app)
        if call.path.startswith("/v1/")
        and not call.path.startswith("/v1/play/")
        and call.method != "OPTIONS"
    ]


def is_unauthorized(response: Response, head: bool = False) -> bool:
    if response.status_code != 401 or "www-authenticate" not in response.headers:
        return False
    return head or response.json().get("error", {}).get("code") == "UNAUTHORIZED"


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION)
def test_bad_credentials_are_401(
    client: TestClient, alice: TenantKey, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/v1/videos", headers=headers)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_rotated_away_key_is_401_and_the_new_one_works(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    assert client.get("/v1/videos", headers=alice.headers).status_code == 200
    _, new_key = components.tenants.rotate_key("alice")
    response = client.get("/v1/videos", headers=alice.headers)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/videos", headers=TenantKey("alice", new_key).headers).status_code == 200


@pytest.mark.parametrize("authorization", [None, BAD_AUTHORIZATION["unknown key"]])
def test_every_public_route_wants_a_key(
    client: TestClient, alice: TenantKey, authorization: str | None
) -> None:
    calls = public_routes(client)
    assert RouteCall("GET", "/v1/videos/{video_id}") in calls, "route discovery found nothing"
    headers = {"Authorization": authorization} if authorization else {}
    wrong = {}
    for call in calls:
        response = client.request(call.method, call.url(), headers=headers)
        if not is_unauthorized(response, head=call.method == "HEAD"):
            wrong[str(call)] = (response.status_code, response.text[:200])
    assert not wrong, f"routes that did not answer 401: {wrong}"


def test_every_internal_route_wants_the_token(client: TestClient, alice: TenantKey) -> None:
    calls = [call for call in route_calls(client.app) if call.path.startswith("/internal/")]
    assert len(calls) >= 3, calls
    attempts = [{}, {"X-Internal-Token": ""}, {"X-Internal-Token": "wrong"}, alice.headers]
    for headers in attempts:
        for call in calls:
            response = client.request(call.method, call.url(), headers=headers)
            assert_error(response, 401, "UNAUTHORIZED")


def test_internal_routes_answer_with_the_token(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    token = {"X-Internal-Token": INTERNAL_TOKEN}
    _, job_id = components.repo.create_video_and_job(
        components.tenants.authenticate(alice.key).id, "a", source_key="s", source_bytes=1
    )
    backlog = client.get("/internal/v1/backlog", headers=token)
    assert backlog.json() == {"queued": 1, "retry_wait": 0, "backlog": 1, "running": 0}
    scaling = client.get("/internal/v1/scaling", headers=token).json()
    assert scaling["backlog"] == 1 and scaling["desired_workers"] >= 1, scaling
    dead = client.post(f"/internal/v1/jobs/{job_id}/dead-letter", headers=token)
    assert dead.json()["ok"] is True
    assert (dead.json()["marked"], dead.json()["state"]) == ("DEAD", "DEAD")
    again = client.post(f"/internal/v1/jobs/{job_id}/dead-letter", headers=token)
    assert again.json()["skipped"] == "already_terminal"
    unknown = client.post("/internal/v1/jobs/no-such-job/dead-letter", headers=token)
    assert_error(unknown, 404, "NOT_FOUND")
