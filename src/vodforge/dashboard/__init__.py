"""The dashboard: its hand-written static files, and the npm packages it loads (hls.js,
tus-js-client), which `npm ci` installs beside package.json and are never copied into the repo.

The API serves the dist folders straight from node_modules; when they are missing (a pip
install on a machine without npm) the page says how to get them instead of failing quietly.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DASHBOARD_DIR = Path(__file__).resolve().parent
STATIC_DIR = DASHBOARD_DIR / "static"
NODE_MODULES = DASHBOARD_DIR / "node_modules"

# URL name under /vendor/ -> the npm package's folder of browser builds, and the file the
# page loads from it.
VENDOR_DIRS = {
    "hls.js": NODE_MODULES / "hls.js" / "dist",
    "tus-js-client": NODE_MODULES / "tus-js-client" / "dist",
}
VENDOR_FILES = (
    VENDOR_DIRS["hls.js"] / "hls.min.js",
    VENDOR_DIRS["tus-js-client"] / "tus.min.js",
)

NPM_CI_ARGS = ("ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error")


@dataclass(frozen=True)
class AssetStatus:
    missing: tuple[Path, ...]

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def install_command(self) -> str:
        return f"npm ci --prefix {DASHBOARD_DIR}"

    @property
    def message(self) -> str:
        if self.ok:
            return "dashboard JavaScript present"
        names = ", ".join(path.parent.parent.name for path in self.missing)
        return (
            f"the dashboard's JavaScript ({names}) is not installed: run "
            f"`{self.install_command}` (Node.js 18+ and npm), then reload the page"
        )


def asset_status() -> AssetStatus:
    return AssetStatus(tuple(path for path in VENDOR_FILES if not path.is_file()))


def install_assets(timeout_s: float = 300) -> AssetStatus:
    """Run `npm ci` from the committed lockfile when npm is on PATH; the new status.

    Raises RuntimeError with npm's last output lines when npm exists but fails.
    """
    npm = shutil.which("npm")
    if npm is None:
        return asset_status()
    done = subprocess.run(
        [npm, *NPM_CI_ARGS],
        cwd=DASHBOARD_DIR,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"npm ci failed (exit {done.returncode}): {tail[:500]}")
    return asset_status()
