"""What `vodforge up` and `api` do about the dashboard: `npm ci` when its JavaScript is
missing and npm is there (a stand-in npm on PATH here), a clear message when it cannot, and
playback links that follow the port the server listens on unless a public URL is set."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from vodforge import dashboard
from vodforge.cli.dashboard import prepare_dashboard, public_url_for
from vodforge.settings import Settings

FAKE_NPM = """#!/bin/sh
# Stands in for `npm ci`: records its arguments and lays out the packages' dist files.
echo "$@" > npm-args.txt
{body}
"""
INSTALLS = (
    "mkdir -p node_modules/hls.js/dist node_modules/tus-js-client/dist\n"
    "touch node_modules/hls.js/dist/hls.min.js node_modules/tus-js-client/dist/tus.min.js"
)


@pytest.fixture
def package_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dashboard folder without node_modules, as a pip install leaves it."""
    folder = tmp_path / "dashboard"
    folder.mkdir()
    monkeypatch.setattr(dashboard, "DASHBOARD_DIR", folder)
    monkeypatch.setattr(
        dashboard,
        "VENDOR_FILES",
        (
            folder / "node_modules/hls.js/dist/hls.min.js",
            folder / "node_modules/tus-js-client/dist/tus.min.js",
        ),
    )
    return folder


def fake_npm(bin_dir: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(body=body))
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")  # ahead of any real npm


def test_up_runs_npm_ci_when_the_javascript_is_missing(
    package_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_npm(tmp_path / "bin", INSTALLS, monkeypatch)
    assert prepare_dashboard(install=True) is None
    assert dashboard.asset_status().ok
    assert (package_dir / "npm-args.txt").read_text().split()[0] == "ci"


def test_api_only_says_how_to_install_it(
    package_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_npm(tmp_path / "bin", INSTALLS, monkeypatch)
    problem = prepare_dashboard(install=False)
    assert problem is not None and f"npm ci --prefix {package_dir}" in problem
    assert not (package_dir / "npm-args.txt").exists()


def test_without_npm_the_message_names_the_command(
    package_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    problem = prepare_dashboard(install=True)
    assert problem is not None
    assert "hls.js, tus-js-client" in problem and f"npm ci --prefix {package_dir}" in problem


def test_a_failing_npm_is_reported_not_raised(
    package_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_npm(tmp_path / "bin", 'echo "npm ERR! network unreachable" >&2; exit 1', monkeypatch)
    problem = prepare_dashboard(install=True)
    assert problem is not None
    assert "exit 1" in problem and "network unreachable" in problem


@pytest.mark.parametrize(
    ("public_url", "listening", "expected"),
    [
        (None, "http://127.0.0.1:8000", None),
        (None, "http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        (None, "http://0.0.0.0:9000", "http://127.0.0.1:9000"),
        (None, "http://localhost:8001", "http://localhost:8001"),
        ("https://video.example.com", "http://0.0.0.0:9000", None),
    ],
)
def test_playback_links_follow_the_listening_port_unless_configured(
    tmp_path: Path, public_url: str | None, listening: str, expected: str | None
) -> None:
    env = {"VODFORGE_DATA_DIR": str(tmp_path)}
    if public_url:
        env["VODFORGE_PUBLIC_URL"] = public_url
    assert public_url_for(Settings.from_env(env), listening) == expected
