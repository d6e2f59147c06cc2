"""The dashboard's files as the API serves them: the page at `/`, its own scripts and styles,
and hls.js and tus-js-client from node_modules; when npm has not installed those, the page
and each missing file say how to install them instead of failing quietly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import api_components, api_settings
from tests.support.api import test_client as in_process_client  # not a test: renamed
from tests.support.databases import SqliteDatabases, require_service
from tests.support.errors import assert_error
from vodforge import dashboard
from vodforge.api import dashboard as dashboard_routes
from vodforge.bootstrap import Components

# Every script and stylesheet the page names is served, from our files or from npm's.
PAGE_ASSETS = (
    "/static/app.css",
    "/static/js/main.js",
    "/vendor/hls.js/hls.min.js",
    "/vendor/tus-js-client/tus.min.js",
)


@pytest.fixture
def components(sqlite_databases: SqliteDatabases, tmp_path: Path) -> Iterator[Components]:
    """The page does not depend on the database: the embedded one is enough."""
    settings = api_settings(sqlite_databases.clone(tmp_path), tmp_path / "data")
    with api_components(settings) as components:
        yield components


@pytest.fixture
def client(components: Components) -> Iterator[TestClient]:
    with in_process_client(components) as client:
        yield client


def test_the_page_and_every_asset_it_names_need_no_key(client: TestClient) -> None:
    # Skipped locally when npm has not run; a failure under CI=true (scripts/test runs it).
    require_service("the dashboard's npm packages", dashboard.asset_status().ok)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    for asset in PAGE_ASSETS:
        assert f'"{asset}"' in page.text, asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        kind = "text/css" if asset.endswith(".css") else "javascript"
        assert kind in response.headers["content-type"], (asset, response.headers)
    assert 'id="missing-assets"' not in page.text
    # The API key is typed into a password field, never put in a URL.
    assert 'type="password"' in page.text


def test_missing_npm_packages_are_explained_on_the_page_and_per_file(
    components: Components, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = tmp_path / "node_modules"  # as after `pip install` without npm
    vendor = {name: absent / name / "dist" for name in dashboard.VENDOR_DIRS}
    monkeypatch.setattr(dashboard_routes, "VENDOR_DIRS", vendor)
    monkeypatch.setattr(dashboard, "VENDOR_FILES", (vendor["hls.js"] / "hls.min.js",))
    fix = f"npm ci --prefix {dashboard.DASHBOARD_DIR}"
    with in_process_client(components) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert 'id="missing-assets"' in page.text and 'role="alert"' in page.text
        assert fix in page.text
        for asset in PAGE_ASSETS[2:]:
            response = client.get(asset)
            assert_error(response, 404, "NOT_FOUND")
            assert fix in response.json()["error"]["message"]
        assert client.get("/static/js/main.js").status_code == 200  # ours are in the package


def test_unknown_static_files_are_404s_in_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/static/no-such-file.js"), 404, "NOT_FOUND")
    assert_error(client.get("/static/../../settings.py"), 404, "NOT_FOUND")
    assert_error(client.get("/vendor/hls.js/../../package.json"), 404, "NOT_FOUND")


def test_the_dashboard_is_not_part_of_the_published_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith(("/static", "/vendor"))]
