"""The FastAPI app factory: one app per set of components, every router and the error map."""

from __future__ import annotations

from fastapi import FastAPI

from vodforge import __version__
from vodforge.api.auth_limit import AuthFailureLimit
from vodforge.api.body_limits import BodyGuard, BodyLimits
from vodforge.api.cors import install_cors
from vodforge.api.dashboard import install_dashboard
from vodforge.api.errors import install_error_handlers
from vodforge.api.fleet_metrics import FleetMetrics
from vodforge.api.metrics import ApiMetrics, install_metrics
from vodforge.api.routes import internal, live, ops, playback, tus, uploads, videos, webhooks
from vodforge.bootstrap import Components

DESCRIPTION = """\
Uploads in, validated HLS ladders out. Public routes take `Authorization: Bearer <API key>`
and only ever see the calling tenant's videos; internal routes take `X-Internal-Token`;
playback URLs (`/v1/play/...`) carry their own signature and take no header.
Every error answers `{"error": {"code", "message"}}`. A client address that sends too many
wrong keys or tokens is answered 429 `RATE_LIMITED`, with `Retry-After`, until the window passes.
The dashboard is at `/`.
"""


def create_app(components: Components) -> FastAPI:
    app = FastAPI(
        title="vodforge",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.components = components
    # Per app, so per API process (see auth_limit.py).
    app.state.auth_failures = AuthFailureLimit(
        components.settings.auth_failure_limit, components.settings.auth_failure_window_s
    )
    app.state.metrics = ApiMetrics()
    app.state.fleet_metrics = FleetMetrics(app.state.metrics.registry)
    app.state.stream_settings = live.StreamSettings()
    install_error_handlers(app)
    install_body_limits(app, components)
    install_metrics(app, app.state.metrics)
    # Added last, so outermost: preflights are answered before any route or metric runs.
    install_cors(app)
    app.include_router(uploads.router)
    app.include_router(tus.router)
    # Before the videos router, whose /v1/videos/{video_id} would take "stream" for an id.
    app.include_router(live.router)
    app.include_router(videos.router)
    app.include_router(webhooks.router)
    app.include_router(playback.router)
    app.include_router(internal.router)
    app.include_router(ops.router)
    install_dashboard(app)
    return app


def install_body_limits(app: FastAPI, components: Components) -> None:
    settings = components.settings
    limits = BodyLimits(
        max_json_bytes=settings.max_json_bytes,
        idle_timeout_s=settings.body_idle_timeout_s,
        timeout_s=settings.body_timeout_s,
        min_rate=settings.body_min_rate,
    )
    # The two routes that stream uploads of any size, limited by VODFORGE_MAX_FILE_BYTES as
    # the bytes arrive: only the pace limits apply to them.
    streamed = (uploads.upload_video, tus.tus_patch)
    app.add_middleware(BodyGuard, limits=limits, streamed=streamed)
