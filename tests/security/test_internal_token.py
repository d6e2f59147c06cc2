"""The internal endpoints (/internal/v1/..., found from the app so routes added later are
covered): every way the X-Internal-Token can be missing or wrong is a 401 UNAUTHORIZED in the
error shape, with none of the data and no change made; the token opens no public route and
a tenant key opens no internal one.

The failed-authentication limit is off here, so each wrong token is answered on its own
merits; test_api_keys.py shows wrong tokens count towards it.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.api import INTERNAL_TOKEN, TenantKey
from tests.support.errors import assert_error
from tests.support.routes import RouteCall, route_calls
from vodforge.bootstrap import Components

DATA_KEYS = {"queued", "backlog", "running", "desired_workers", "reason", "ok", "state", "marked"}


@pytest.fixture
def api_env() -> dict[str, str]:
    return {"VODFORGE_AUTH_FAILURE_LIMIT": "0"}


def internal_routes(client: TestClient) -> list[RouteCall]:
    calls = [call for call in route_calls(client.app) if call.path.startswith("/internal/")]
    assert RouteCall("GET", "/internal/v1/backlog") in calls, calls
    assert RouteCall("POST", "/internal/v1/jobs/{job_id}/dead-letter") in calls, calls
    return calls


def wrong_tokens(alice: TenantKey) -> dict[str, dict[str, str | bytes]]:
    token = INTERNAL_TOKEN
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return {
        "none": {},
        "empty": {"X-Internal-Token": ""},
        "wrong": {"X-Internal-Token": "wrong"},
        "same length, one character off": {"X-Internal-Token": flipped},
        "same length, first character off": {"X-Internal-Token": "X" + token[1:]},
        "shorter (a prefix)": {"X-Internal-Token": token[:-1]},
        "one character": {"X-Internal-Token": token[0]},
        "longer (the token and more)": {"X-Internal-Token": token + "x"},
        "much longer": {"X-Internal-Token": token * 100},
        "other case": {"X-Internal-Token": token.swapcase()},
        "padded": {"X-Internal-Token": f" {token}x"},
        "non-ASCII": {"X-Internal-Token": (token[:-1] + "é").encode("latin-1")},
        "a tenant key in its place": {"X-Internal-Token": alice.key},
        "a tenant key as a bearer": alice.headers,
        "the token as a bearer": {"Authorization": f"Bearer {token}"},
        "the token under another name": {"X-Internal-Tokens": token, "Internal-Token": token},
        "the token in the query": {},
    }


def test_every_wrong_token_is_401_with_no_data_and_no_change(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    tenant = components.tenants.authenticate(alice.key)
    video_id, job_id = components.repo.create_video_and_job(
        tenant.id, "waiting", source_key="s", source_bytes=1
    )
    fill = {"job_id": job_id}
    for why, headers in wrong_tokens(alice).items():
        for call in internal_routes(client):
            url = call.url(**fill)
            if why == "the token in the query":
                url += f"?token={INTERNAL_TOKEN}&X-Internal-Token={INTERNAL_TOKEN}"
            response = client.request(call.method, url, headers=headers)
            error = assert_error(response, 401, "UNAUTHORIZED")
            assert "X-Internal-Token" in error["message"], (why, str(call), error)
            assert not DATA_KEYS & set(response.json()), (why, str(call))
            assert INTERNAL_TOKEN not in response.text, (why, str(call))
    # The dead-letter report was refused every time: the job still waits.
    assert components.repo.get_job(job_id).state.value == "QUEUED"
    assert client.get(f"/v1/videos/{video_id}", headers=alice.headers).json()["status"] == (
        "UPLOADED"
    )


def test_the_right_token_answers(client: TestClient, components: Components) -> None:
    """The control: the same requests with the token get the data."""
    token = {"X-Internal-Token": INTERNAL_TOKEN}
    for call in internal_routes(client):
        if "{" in call.path:
            continue
        response = client.request(call.method, call.url(), headers=token)
        assert response.status_code == 200, (str(call), response.text)
        assert DATA_KEYS & set(response.json()), (str(call), response.json())


def test_the_internal_token_opens_no_public_route(client: TestClient, alice: TenantKey) -> None:
    for headers in (
        {"X-Internal-Token": INTERNAL_TOKEN},
        {"Authorization": f"Bearer {INTERNAL_TOKEN}"},
        {"Authorization": f"Bearer vf_{INTERNAL_TOKEN}"},
    ):
        for path in ("/v1/videos", "/v1/webhooks/endpoint", "/v1/webhooks/deliveries"):
            assert_error(client.get(path, headers=headers), 401, "UNAUTHORIZED")
