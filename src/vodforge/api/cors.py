"""CORS for the whole API, in one place: any web page may call it and play its signed URLs.

`*` origins are safe here because nothing rides on ambient credentials: public routes take a
bearer key the page must hold, play URLs carry their own signature, and credentialed
(cookie) requests stay disallowed.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# Response headers a page's script may read: byte ranges for players, the tus protocol's
# headers for tus-js-client (and the video id its final PATCH answers with).
EXPOSED_HEADERS = (
    "Accept-Ranges",
    "Content-Length",
    "Content-Range",
    "ETag",
    "Location",
    "Retry-After",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Resumable",
    "Tus-Version",
    "Upload-Expires",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "Vodforge-Video-Id",
)

PREFLIGHT_MAX_AGE_S = 600


def install_cors(app: FastAPI) -> None:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_credentials=False,
        allow_methods=ALLOWED_METHODS,
        # Every requested header is allowed (Authorization, Range, tus's Upload-* and
        # Tus-Resumable, ...): with no credentials none of them widens what a page can do,
        # and a new route's header needs no change here.
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE_S,
    )
