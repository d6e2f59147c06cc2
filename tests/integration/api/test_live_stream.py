"""GET /v1/videos/stream over a real socket: the tenant's page on connect, then each change
(new, progress, cancelled, deleted) as it happens, heartbeats while nothing does, an `end`
after the stream's bounded lifetime, and no database connection held between polls."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.api import TenantKey, live_server
from tests.support.sse import open_stream
from tests.support.videos import queued_video, ready_video, tenant_id
from vodforge.api.app import create_app
from vodforge.api.routes.live import StreamSettings
from vodforge.bootstrap import Components


@pytest.fixture
def serve(components: Components) -> Iterator[object]:
    """Starts the API with the given stream settings; yields a function of the settings."""
    servers = []

    def start(**settings: float) -> str:
        app = create_app(components)
        app.state.stream_settings = StreamSettings(**settings)
        server = live_server(app)
        servers.append(server)
        return server.__enter__()

    yield start
    for server in reversed(servers):
        server.__exit__(None, None, None)


def test_snapshot_then_every_change_then_end(
    serve: object, components: Components, alice: TenantKey, bob: TenantKey
) -> None:
    old = ready_video(components, "alice", "old")
    queued_video(components, "bob", "not alice's")
    base = serve(poll_s=0.1, lifetime_s=6, ping_s=30)  # type: ignore[operator]
    with open_stream(f"{base}/v1/videos/stream", alice.headers) as stream:
        assert stream.status_code == 200
        snapshot = stream.next()
        assert snapshot.event == "snapshot"
        assert [video["id"] for video in snapshot.data["items"]] == [old]
        assert snapshot.data["items"][0]["status"] == "READY"

        new = queued_video(components, "alice", "new")
        added = stream.next()
        assert (added.event, added.data["id"], added.data["status"]) == ("video", new, "UPLOADED")
        assert added.data["queue_position"] == 2  # behind bob's, queued first

        components.telemetry.record_progress(
            tenant_id(components, "alice"), new, {"stage": "transcode", "percent": 40.0, "eta_s": 9}
        )
        moved = stream.next()
        assert moved.data["id"] == new
        assert moved.data["progress"] == {"percent": 40.0, "stage": "transcode", "eta_s": 9}

        components.repo.cancel_video(new, actor="test")
        cancelled = stream.next()
        assert (cancelled.data["id"], cancelled.data["status"]) == (new, "CANCELLED")

        components.videos.delete(old)
        removed = stream.next()
        assert (removed.event, removed.data) == ("removed", {"id": old})

        # Nothing else changed, and bob's videos never showed: the next message is the end.
        end = stream.next(timeout=10)
        assert (end.event, end.data) == ("end", {"reconnect_ms": 500})
        with pytest.raises(AssertionError, match="ended"):
            stream.next()


def test_heartbeats_while_nothing_changes(
    serve: object, components: Components, alice: TenantKey
) -> None:
    base = serve(poll_s=0.1, lifetime_s=1.5, ping_s=0.3)  # type: ignore[operator]
    with open_stream(f"{base}/v1/videos/stream", alice.headers) as stream:
        assert stream.next().data == {"items": []}
        assert stream.next(timeout=10).event == "end"
        assert len(stream.comments) >= 2, stream.comments
        assert all(comment.startswith(": ping") for comment in stream.comments)


def test_a_stream_needs_a_key_and_sees_only_its_tenant(
    serve: object, components: Components, alice: TenantKey, bob: TenantKey
) -> None:
    queued_video(components, "alice")
    base = serve(poll_s=0.1, lifetime_s=0.5)  # type: ignore[operator]
    with open_stream(f"{base}/v1/videos/stream", {}) as refused:
        assert refused.status_code == 401
        assert refused.body["error"]["code"] == "UNAUTHORIZED"
    with open_stream(f"{base}/v1/videos/stream", bob.headers) as stream:
        assert stream.next().data == {"items": []}
    with open_stream(f"{base}/v1/videos/stream?limit=0", alice.headers) as invalid:
        assert invalid.status_code == 422


def test_no_database_connection_is_held_between_polls(
    serve: object, components: Components, alice: TenantKey
) -> None:
    queued_video(components, "alice")
    base = serve(poll_s=2.0, lifetime_s=3)  # type: ignore[operator]
    pool = components.engine.pool
    with (
        open_stream(f"{base}/v1/videos/stream", alice.headers) as first,
        open_stream(f"{base}/v1/videos/stream", alice.headers) as second,
    ):
        assert first.next().event == second.next().event == "snapshot"
        time.sleep(0.5)  # between the snapshot and the first poll, 2 s later
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert first.until("end").data == second.until("end").data
