"""schemathesis over every operation with its positive and negative data generation (`--mode
all`, through the examples, coverage and fuzzing phases): whatever it sends, authenticated as
a real tenant with real objects behind the ids, the API never answers 5xx, and every answer
with a documented status matches the schema published for it.

tests/integration/api/test_schemathesis.py keeps the published contract for valid requests;
this run adds the hostile half: values outside every declared type, format and bound, missing
required parts, NUL bytes and odd encodings, in paths, queries, headers and bodies.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.api import INTERNAL_TOKEN, TenantKey
from tests.support.playback import package_files, play_base, ready_with_files
from tests.support.videos import cancelled_video, failed_video, queued_video
from vodforge.api.app import create_app
from vodforge.api.routes.live import StreamSettings
from vodforge.bootstrap import Components
from vodforge.tenants.repository import WebhookEndpoint
from vodforge.uploads.tus import TUS_VERSION
from vodforge.webhooks.signing import new_secret

CHECKS = [not_a_server_error, response_schema_conformance]
# Cases per operation in the fuzzing phase (examples and coverage make their own, about as
# many again): some 25 operations on two databases in about 35 s.
MAX_EXAMPLES = 40
# One case in PICK_FROM gets a generated value where a seeded id would go; the rest get real
# objects, so routes are exercised past their lookups and not only answered with 404.
PICK_FROM = 8
PICKS = itertools.count()


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's fixture-based parametrize reads and renames `node._nodeid`, which
    pytest 9.2 no longer has (node ids are structured now): give it one to read."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def fuzzed_schema(components: Components) -> schemathesis.BaseSchema:
    app = create_app(components)
    # The live list lasts minutes; here one snapshot and its end are enough.
    app.state.stream_settings = StreamSettings(lifetime_s=0.1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(
        modes=GenerationMode.from_choice("all"),
        max_examples=MAX_EXAMPLES,
        # The credentials are the test's (a real tenant's key): generated ones would only
        # test the 401 (tests/integration/api/test_auth.py does) and trip the failure limit.
        with_security_parameters=False,
    )
    return schema


@pytest.fixture
def seeded(components: Components, alice: TenantKey) -> dict[str, list[str]]:
    """Alice's objects, by the path parameter that names them: videos in every state (one
    READY with a real package, whose signed URL fills the play route), webhook deliveries,
    and a tus upload in progress."""
    tenant = components.tenants.by_name("alice")
    assert tenant is not None
    components.tenants_repo.set_webhook(
        tenant.id, WebhookEndpoint("https://hooks.example/in", new_secret())
    )
    playable = ready_with_files(components, alice.key, package_files())
    videos = [playable] + [
        make(components, "alice") for make in (queued_video, failed_video, cancelled_video)
    ]
    deliveries = [event.id for event in components.webhooks.repo.list_for_tenant(tenant.id, 10)]
    upload = components.uploads.create_tus(tenant, length="1000", metadata=None)
    url = components.videos.show(playable, tenant)["playback_url"]
    token = play_base(url).split("/")[4]
    assert deliveries and token
    return {
        "video_id": videos,
        "delivery_id": deliveries,
        "upload_id": [upload.id],
        "token": [token],
    }


schema = schemathesis.pytest.from_fixture("fuzzed_schema")


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case, alice: TenantKey, seeded: dict[str, list[str]]
) -> None:
    pick = next(PICKS) % PICK_FROM
    params = case.path_parameters or {}
    for name, ids in seeded.items():
        if name in params and pick < PICK_FROM - 1:
            params[name] = ids[pick % len(ids)]
    headers = {**(case.headers or {}), **alice.headers, "X-Internal-Token": INTERNAL_TOKEN}
    if case.path.startswith("/v1/uploads/tus") and pick < PICK_FROM - 1:
        # Past the version check, into the handlers (a wrong version is a 412 before them).
        headers["Tus-Resumable"] = TUS_VERSION
        if case.method == "PATCH":
            headers["Content-Type"] = "application/offset+octet-stream"
    case.call_and_validate(headers=headers, checks=CHECKS)
