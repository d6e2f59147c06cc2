"""/readyz names each reason it is not ready: a schema behind the code (migrations not run)
and storage it cannot write. (A database that is gone: test_readiness.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from vodforge.bootstrap import Components
from vodforge.db.migrate import HEAD_REVISION


def checks_of(client: TestClient) -> dict[str, dict[str, object]]:
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["ok"] is False
    return {check["name"]: check for check in ready.json()["checks"]}


def test_a_schema_behind_the_code_is_not_ready(client: TestClient, components: Components) -> None:
    assert client.get("/readyz").status_code == 200
    with components.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    checks = checks_of(client)
    assert checks["database"]["ok"] is False
    detail = str(checks["database"]["detail"])
    assert "0001" in detail and HEAD_REVISION in detail and "db upgrade" in detail
    assert checks["storage"]["ok"] is True


def test_storage_that_cannot_be_written_is_not_ready(
    client: TestClient, components: Components
) -> None:
    root = Path(components.settings.storage_url.removeprefix("file://"))
    shutil.rmtree(root)
    root.write_text("a file where the storage directory should be")
    checks = checks_of(client)
    assert checks["storage"]["ok"] is False and checks["storage"]["detail"]
    assert checks["database"]["ok"] is True
    assert client.get("/healthz").status_code == 200  # alive, only not ready
