"""Guessing API keys: the comparison cannot be timed, and guessing at speed is cut off.

Constant time is shown structurally, not by timing: a key is looked up by its SHA-256 (the
only form stored, the only form that reaches SQL), and the stored hash is compared with
`hmac.compare_digest`; the key itself is never compared, stored or sent to the database.

The failed-authentication limit (src/vodforge/api/auth_limit.py, in memory per API process):
after N wrong keys (or internal tokens) within the window from one client address, that
address gets 429 RATE_LIMITED with Retry-After on everything that needs a key, a correct key
included, until the window passes; other addresses are unaffected, successes never count
and a request without credentials is not a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from tests.support.api import INTERNAL_TOKEN, TenantKey, live_server
from tests.support.errors import assert_error
from tests.support.playback import package_files, path_of, ready_with_files
from tests.support.routes import RouteCall, route_calls
from vodforge.api.app import create_app
from vodforge.bootstrap import Components
from vodforge.db.tables import tenants
from vodforge.errors import ConfigError
from vodforge.settings import Settings
from vodforge.tenants.service import hash_api_key
from vodforge.uploads.tus import TUS_VERSION

LIMIT = 5
WINDOW_S = 2
WRONG = {"Authorization": "Bearer vf_" + "x" * 43}


@pytest.fixture
def api_env() -> dict[str, str]:
    return {
        "VODFORGE_AUTH_FAILURE_LIMIT": str(LIMIT),
        "VODFORGE_AUTH_FAILURE_WINDOW_S": str(WINDOW_S),
    }


def other_client(client: TestClient, address: str) -> TestClient:
    """Another client address on the same app (the same API process, the same counts)."""
    return TestClient(client.app, client=(address, 40000), raise_server_exceptions=False)


def assert_limited(response: httpx.Response, *, head: bool = False) -> int:
    """429 RATE_LIMITED with a Retry-After within the window; returns Retry-After."""
    assert response.status_code == 429, (response.status_code, response.text[:200])
    if not head:
        error = assert_error(response, 429, "RATE_LIMITED")
        assert "too many failed authentications" in error["message"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW_S
    assert response.headers["cache-control"] == "no-store"
    return retry_after


def use_up_the_limit(client: TestClient, headers: dict[str, str] = WRONG) -> None:
    for _ in range(LIMIT):
        assert_error(client.get("/v1/videos", headers=headers), 401, "UNAUTHORIZED")


# -- constant time, structurally ------------------------------------------------------------


@pytest.fixture
def spied(components: Components, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list]]:
    """Records every hash looked up, every compare_digest call and every SQL statement with
    its parameters while the test runs."""
    seen: dict[str, list] = {"lookups": [], "compared": [], "sql": []}
    repo = components.tenants.tenants
    lookup = repo.credentials_for_hash
    compare = hmac.compare_digest

    def spy_lookup(api_key_hash: str) -> Any:
        seen["lookups"].append(api_key_hash)
        return lookup(api_key_hash)

    def spy_compare(a: Any, b: Any) -> bool:
        seen["compared"].append((a, b))
        return compare(a, b)

    def spy_sql(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen["sql"].append(f"{statement} {parameters!r}")

    monkeypatch.setattr(repo, "credentials_for_hash", spy_lookup)
    monkeypatch.setattr(hmac, "compare_digest", spy_compare)
    event.listen(components.engine, "before_cursor_execute", spy_sql)
    yield seen
    event.remove(components.engine, "before_cursor_execute", spy_sql)


def test_a_key_is_found_by_its_hash_and_compared_in_constant_time(
    client: TestClient, components: Components, alice: TenantKey, spied: dict[str, list]
) -> None:
    digest = hashlib.sha256(alice.key.encode()).hexdigest()
    assert hash_api_key(alice.key) == digest
    assert client.get("/v1/videos", headers=alice.headers).status_code == 200
    assert spied["lookups"] == [digest]
    assert spied["compared"] == [(digest, digest)]

    # A near miss (one character of the real key changed) is looked up by its own hash: no
    # row shares it, so nothing about the real key is compared at all.
    near = alice.key[:-1] + ("A" if alice.key[-1] != "A" else "B")
    spied["lookups"].clear()
    spied["compared"].clear()
    response = client.get("/v1/videos", headers={"Authorization": f"Bearer {near}"})
    assert_error(response, 401, "UNAUTHORIZED")
    assert spied["lookups"] == [hash_api_key(near)]
    assert spied["compared"] == []

    # The key never reaches SQL, and the database keeps only its hash.
    assert spied["sql"] and not any(alice.key in statement for statement in spied["sql"])
    assert not any(near in statement for statement in spied["sql"])
    with components.engine.connect() as conn:
        row = conn.execute(select(tenants).where(tenants.c.name == "alice")).mappings().one()
    assert row["api_key_hash"] == digest
    assert not any(alice.key in str(value) for value in row.values())


def test_the_internal_token_is_compared_in_constant_time(
    client: TestClient, spied: dict[str, list]
) -> None:
    wrong = client.get("/internal/v1/backlog", headers={"X-Internal-Token": "wrong"})
    assert_error(wrong, 401, "UNAUTHORIZED")
    assert spied["compared"] == [(b"wrong", INTERNAL_TOKEN.encode())]
    spied["compared"].clear()
    ok = client.get("/internal/v1/backlog", headers={"X-Internal-Token": INTERNAL_TOKEN})
    assert ok.status_code == 200
    assert spied["compared"] == [(INTERNAL_TOKEN.encode(), INTERNAL_TOKEN.encode())]


# -- the failed-authentication limit ------------------------------------------------------------


def test_after_n_wrong_keys_even_the_right_key_is_429_until_the_window_passes(
    client: TestClient, alice: TenantKey
) -> None:
    use_up_the_limit(client)
    retry_after = assert_limited(client.get("/v1/videos", headers=alice.headers))
    assert_limited(client.get("/v1/videos", headers=WRONG))
    assert_limited(client.get("/v1/videos"))  # no key: refused the same, nothing learnt
    time.sleep(retry_after + 0.2)
    assert client.get("/v1/videos", headers=alice.headers).status_code == 200
    assert_error(client.get("/v1/videos", headers=WRONG), 401, "UNAUTHORIZED")


def test_other_clients_are_unaffected(client: TestClient, alice: TenantKey, bob: TenantKey) -> None:
    use_up_the_limit(client)
    assert_limited(client.get("/v1/videos", headers=bob.headers))
    elsewhere = other_client(client, "198.51.100.7")
    assert elsewhere.get("/v1/videos", headers=alice.headers).status_code == 200
    assert elsewhere.get("/v1/videos", headers=bob.headers).status_code == 200
    # Its own count starts at zero: N - 1 wrong keys leave it in.
    for _ in range(LIMIT - 1):
        assert_error(elsewhere.get("/v1/videos", headers=WRONG), 401, "UNAUTHORIZED")
    assert elsewhere.get("/v1/videos", headers=alice.headers).status_code == 200
    assert_limited(client.get("/v1/videos", headers=alice.headers))


def test_successes_do_not_count_and_do_not_reset_the_count(
    client: TestClient, alice: TenantKey
) -> None:
    for _ in range(5 * LIMIT):
        assert client.get("/v1/videos", headers=alice.headers).status_code == 200
    for _ in range(LIMIT - 1):
        assert_error(client.get("/v1/videos", headers=WRONG), 401, "UNAUTHORIZED")
        assert client.get("/v1/videos", headers=alice.headers).status_code == 200
    assert_error(client.get("/v1/videos", headers=WRONG), 401, "UNAUTHORIZED")  # the Nth
    assert_limited(client.get("/v1/videos", headers=alice.headers))


def test_a_request_without_credentials_is_not_a_guess(client: TestClient, alice: TenantKey) -> None:
    for _ in range(4 * LIMIT):
        assert_error(client.get("/v1/videos"), 401, "UNAUTHORIZED")
        assert_error(client.get("/internal/v1/backlog"), 401, "UNAUTHORIZED")
    assert client.get("/v1/videos", headers=alice.headers).status_code == 200


@pytest.mark.parametrize(
    "wrong",
    [
        {"Authorization": "Bearer vf_" + "x" * 43},  # well formed, unknown
        {"Authorization": "Bearer not-a-key"},  # malformed: refused before any lookup
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},  # another scheme
        {"Authorization": "Bearer " + "vf_" + "y" * 300},  # oversized
        {"X-Internal-Token": "wrong"},  # the internal token: the same budget
        {"X-Internal-Token": ""},
    ],
    ids=["unknown", "malformed", "basic", "oversized", "internal", "internal-empty"],
)
def test_every_kind_of_wrong_credential_counts(
    client: TestClient, alice: TenantKey, wrong: dict[str, str]
) -> None:
    path = "/internal/v1/backlog" if "X-Internal-Token" in wrong else "/v1/videos"
    for _ in range(LIMIT):
        assert_error(client.get(path, headers=wrong), 401, "UNAUTHORIZED")
    assert_limited(client.get("/v1/videos", headers=alice.headers))
    token = {"X-Internal-Token": INTERNAL_TOKEN}
    assert_limited(client.get("/internal/v1/backlog", headers=token))


def keyed_routes(client: TestClient) -> list[RouteCall]:
    """Every route that checks a key or the internal token: /v1/ but the signed play URLs
    and OPTIONS (CORS preflight, tus discovery), and /internal/."""
    return [
        call
        for call in route_calls(client.app)
        if call.path.startswith(("/v1/", "/internal/"))
        and not call.path.startswith("/v1/play/")
        and call.method != "OPTIONS"
    ]


def test_once_limited_every_keyed_route_is_429_and_keyless_ones_still_answer(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    """tus and the live stream included (they check the same key); the play route checks no
    key (the signature is the authority), so a limited address still plays what it holds."""
    playable = ready_with_files(components, alice.key, package_files())
    url = path_of(
        client.get(f"/v1/videos/{playable}", headers=alice.headers).json()["playback_url"]
    )
    use_up_the_limit(client)
    calls = keyed_routes(client)
    assert RouteCall("PATCH", "/v1/uploads/tus/{upload_id}") in calls
    assert RouteCall("GET", "/v1/videos/stream") in calls
    assert RouteCall("GET", "/internal/v1/backlog") in calls
    headers = {
        **alice.headers,
        "X-Internal-Token": INTERNAL_TOKEN,
        "Tus-Resumable": TUS_VERSION,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
        "Upload-Length": "10",
    }
    for call in calls:
        response = client.request(call.method, call.url(), headers=headers)
        assert_limited(response, head=call.method == "HEAD")
        if "/tus" in call.path:
            assert response.headers["tus-resumable"] == TUS_VERSION, str(call)
    assert client.get("/healthz").status_code == 200
    assert client.options("/v1/uploads/tus").status_code == 204
    assert client.get(url).status_code == 200


def test_the_limit_holds_over_real_http(components: Components, alice: TenantKey) -> None:
    """Through uvicorn on a loopback port, with the client address as the server sees it."""
    with live_server(create_app(components)) as base, httpx.Client(base_url=base) as http:
        for _ in range(LIMIT):
            assert http.get("/v1/videos", headers=WRONG).status_code == 401
        response = http.get("/v1/videos", headers=alice.headers)
        assert_limited(response)
        created = http.post(
            "/v1/uploads/tus",
            headers={**alice.headers, "Tus-Resumable": TUS_VERSION, "Upload-Length": "10"},
        )
        assert_limited(created)


@pytest.mark.parametrize("api_env", [{"VODFORGE_AUTH_FAILURE_LIMIT": "0"}], ids=["off"])
def test_a_limit_of_zero_turns_it_off(client: TestClient, alice: TenantKey) -> None:
    for _ in range(100):
        assert_error(client.get("/v1/videos", headers=WRONG), 401, "UNAUTHORIZED")
    assert client.get("/v1/videos", headers=alice.headers).status_code == 200


def test_the_limit_settings() -> None:
    base = {"VODFORGE_INTERNAL_TOKEN": "t", "VODFORGE_DATABASE_URL": "postgresql://db/v"}
    defaults = Settings.from_env(base)
    assert (defaults.auth_failure_limit, defaults.auth_failure_window_s) == (30, 60)
    custom = Settings.from_env(
        {**base, "VODFORGE_AUTH_FAILURE_LIMIT": "7", "VODFORGE_AUTH_FAILURE_WINDOW_S": "2.5"}
    )
    assert (custom.auth_failure_limit, custom.auth_failure_window_s) == (7, 3)
    assert Settings.from_env({**base, "VODFORGE_AUTH_FAILURE_LIMIT": "0"}).auth_failure_limit == 0
    for name, value in [
        ("AUTH_FAILURE_LIMIT", "-1"),
        ("AUTH_FAILURE_LIMIT", "many"),
        ("AUTH_FAILURE_WINDOW_S", "0"),
        ("AUTH_FAILURE_WINDOW_S", "0.5"),
    ]:
        with pytest.raises(ConfigError, match=f"VODFORGE_{name}"):
            Settings.from_env({**base, f"VODFORGE_{name}": value})


def test_the_429_is_in_the_published_contract(client: TestClient) -> None:
    """Every keyed operation declares 429 with the error body, so clients (and schemathesis)
    know it."""
    document = client.get("/openapi.json").json()
    for call in keyed_routes(client):
        path = call.path.replace(":path", "")
        operation = document["paths"][path][call.method.lower()]
        assert "429" in operation["responses"], str(call)
