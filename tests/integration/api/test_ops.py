"""Ops and framework routes: health, readiness, Prometheus metrics, the OpenAPI document, the
docs page, and the error shape of unknown routes and wrong methods."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import TenantKey
from tests.support.errors import assert_error
from tests.support.videos import queued_video
from vodforge.bootstrap import Components


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"ok": True, "checks": []}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    checks = {check["name"]: check["ok"] for check in ready.json()["checks"]}
    assert checks == {"database": True, "storage": True}


def test_metrics_parse_and_follow_the_queue(
    client: TestClient, components: Components, alice: TenantKey
) -> None:
    before = samples(client)
    assert before[("vodforge_backlog", frozenset())] == 0
    video_id = queued_video(components, "alice")
    assert client.get(f"/v1/videos/{video_id}", headers=alice.headers).status_code == 200
    after = samples(client)
    assert after[("vodforge_backlog", frozenset())] == 1
    assert after[("vodforge_jobs", frozenset({("state", "QUEUED")}))] == 1
    request = frozenset({("method", "GET"), ("route", "/v1/videos/{video_id}"), ("status", "200")})
    assert after[("vodforge_http_request_duration_seconds_count", request)] == 1


def test_openapi_document_and_docs_page(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/v1/videos", "/v1/videos/{video_id}", "/internal/v1/backlog", "/readyz"} <= set(
        document["paths"]
    )
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"]["name"] == "X-Internal-Token"
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in docs.text and "/openapi.json" in docs.text


def test_unknown_routes_and_wrong_methods_have_the_error_shape(
    client: TestClient, alice: TenantKey
) -> None:
    assert_error(client.get("/no/such/route"), 404, "NOT_FOUND")
    assert_error(client.get("/v1/nothing-here", headers=alice.headers), 404, "NOT_FOUND")
    wrong_method = client.put("/v1/videos", headers=alice.headers)
    assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert wrong_method.headers["allow"]
    assert_error(client.post("/healthz"), 405, "METHOD_NOT_ALLOWED")
