"""The dashboard's routes: the page at `/`, its own files under `/static/`, and the npm-built
JavaScript under `/vendor/<package>/`, served from node_modules as npm installed it.

None of these need a key: the page holds no data until the person signs in, and every call
it then makes carries the key in the Authorization header.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from vodforge.api.errors import error_response
from vodforge.dashboard import STATIC_DIR, VENDOR_DIRS, asset_status
from vodforge.errors import ErrorCode

INDEX = STATIC_DIR / "index.html"
MISSING_MARKER = "<!-- vendor-status -->"
# The page is tiny and changes with each release; a stale cached copy would load new
# scripts against old markup, so it is always revalidated.
PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def dashboard_page() -> str:
    """index.html, with a banner saying how to install the JavaScript when it is missing.

    Checked on every request, so installing it while the server runs is enough.
    """
    page = INDEX.read_text(encoding="utf-8")
    status = asset_status()
    if status.ok:
        return page
    banner = (
        '<p class="banner banner-error" role="alert" id="missing-assets">'
        f"{html.escape(status.message)}</p>"
    )
    return page.replace(MISSING_MARKER, banner)


class VendorFiles(StaticFiles):
    """An npm package's dist folder; while npm has not installed it, every file is a 404
    that says how to install it (plain StaticFiles would fail with a 500)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.directory is not None and not Path(self.directory).is_dir():
            response = error_response(404, ErrorCode.NOT_FOUND, asset_status().message)
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def install_dashboard(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(dashboard_page(), headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    for name, directory in VENDOR_DIRS.items():
        # check_dir=False: a missing node_modules must not stop the API from starting.
        app.mount(
            f"/vendor/{name}",
            VendorFiles(directory=directory, check_dir=False),
            name=f"vendor-{name}",
        )
