"""schemathesis against the published OpenAPI document, authenticated as a tenant (and with
the internal token): no request it generates may get a 5xx, an undeclared status, or a body
that does not match the schema published for that status.

A run takes about half a minute per database, so PostgreSQL (the same routes and service code
as SQLite) is the `slow` variant: `pytest -m "not slow"` skips it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api import INTERNAL_TOKEN, TenantKey
from tests.support.databases import (
    PostgresDatabases,
    SqliteDatabases,
    fresh_database,
    require_service,
)
from tests.support.videos import cancelled_video, failed_video, queued_video, ready_video
from vodforge.api.app import create_app
from vodforge.api.routes.live import StreamSettings
from vodforge.bootstrap import Components

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(
    request: pytest.FixtureRequest,
    pg_databases: PostgresDatabases | None,
    sqlite_databases: SqliteDatabases,
    tmp_path: Path,
) -> Iterator[str]:
    """The shared fixture's databases, with the PostgreSQL run marked slow."""
    if request.param == "postgresql":
        require_service("PostgreSQL", pg_databases is not None)
    with fresh_database(request.param, pg_databases, sqlite_databases, tmp_path) as url:
        yield url


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's fixture-based parametrize reads and renames `node._nodeid`, which
    pytest 9.2 no longer has (node ids are structured now): give it one to read."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def api_schema(components: Components) -> schemathesis.BaseSchema:
    app = create_app(components)
    # The live list stream lasts minutes; here one snapshot and its end are enough to check
    # each event against the published schema.
    app.state.stream_settings = StreamSettings(lifetime_s=0.1)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture
def seeded_videos(components: Components, alice: TenantKey) -> list[str]:
    """Alice's videos in every state, so video routes see real ids and not only 404s."""
    return [
        make(components, "alice")
        for make in (queued_video, ready_video, failed_video, cancelled_video)
    ]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@schema.given(pick=st.integers(min_value=0, max_value=5))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_its_published_contract(
    case: schemathesis.Case, pick: int, alice: TenantKey, seeded_videos: list[str]
) -> None:
    if "video_id" in (case.path_parameters or {}) and pick < len(seeded_videos):
        case.path_parameters["video_id"] = seeded_videos[pick]  # else the generated id stays
    headers = {**alice.headers, "X-Internal-Token": INTERNAL_TOKEN}
    case.call_and_validate(headers=headers, checks=CHECKS)
