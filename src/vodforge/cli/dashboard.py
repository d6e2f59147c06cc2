"""What `vodforge up` and `vodforge api` do about the dashboard's JavaScript (hls.js and
tus-js-client from npm): `up` installs it with `npm ci` when it is missing and npm is on
PATH, so the README's first command gives a working page; `api` (a fleet's server, whose image
should carry it) only says how to install it. Either way the page itself says so too."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

from vodforge.dashboard import asset_status, install_assets
from vodforge.settings import Settings

log = logging.getLogger(__name__)


def prepare_dashboard(*, install: bool) -> str | None:
    """None when the dashboard's JavaScript is there; else what is wrong and how to fix it."""
    status = asset_status()
    if status.ok:
        return None
    if install and shutil.which("npm"):
        print("Installing the dashboard's JavaScript (npm ci, once)…", file=sys.stderr, flush=True)
        try:
            status = install_assets()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            log.warning("could not install the dashboard's JavaScript: %s", exc)
            return f"{status.message} ({exc})"
    if status.ok:
        return None
    log.warning("%s", status.message)
    return status.message


def public_url_for(settings: Settings, listening_url: str) -> str | None:
    """The URL playback links should use when VODFORGE_PUBLIC_URL was left at its default
    but the server listens elsewhere (`up --port 9000`): the listening address, so the
    dashboard's player and embed snippets point at this server. None: keep the setting."""
    if settings.public_url != Settings.public_url or listening_url == Settings.public_url:
        return None
    host = listening_url.split("//", 1)[1].rsplit(":", 1)[0]
    if host in ("0.0.0.0", "[::]"):
        # Listening on every interface: a browser on this machine reaches it on loopback.
        return "http://127.0.0.1:" + listening_url.rsplit(":", 1)[1]
    return listening_url
