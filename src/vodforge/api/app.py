"""The FastAPI app factory: one app per set of components, every router and the error map."""

from __future__ import annotations

from fastapi import FastAPI

from vodforge import __version__
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
Every error answers `{"error": {"code", "message"}}`. The dashboard is at `/`.
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
    app.state.metrics = ApiMetrics()
    app.state.fleet_metrics = FleetMetrics(app.state.metrics.registry)
    app.state.stream_settings = live.StreamSettings()
    install_error_handlers(app)
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
