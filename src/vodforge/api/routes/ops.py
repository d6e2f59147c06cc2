"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from vodforge.api.deps import ComponentsDep
from vodforge.api.fleet_metrics import FleetMetrics
from vodforge.api.metrics import ApiMetrics
from vodforge.api.schemas import HealthOut
from vodforge.db.migrate import HEAD_REVISION, current_revision

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=HealthOut)
def healthz() -> dict[str, object]:
    """The process is alive (it answers); says nothing of its dependencies."""
    return {"ok": True, "checks": []}


@router.get("/readyz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def readyz(components: ComponentsDep) -> JSONResponse:
    """Ready to serve: the database answers with the current schema and storage is writable."""
    checks: list[dict[str, object]] = []

    def check(name: str, probe: object) -> None:
        try:
            detail = probe() if callable(probe) else probe
            checks.append({"name": name, "ok": True, "detail": str(detail or "ok")})
        except Exception as exc:
            checks.append({"name": name, "ok": False, "detail": str(exc).splitlines()[0][:300]})

    def database() -> str:
        with components.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(components.engine)
        if revision != HEAD_REVISION:
            raise RuntimeError(f"schema at {revision}, expected {HEAD_REVISION}: db upgrade")
        return f"schema {revision}"

    def storage() -> str:
        key = f"readyz/{uuid.uuid4().hex}"
        components.storage.put_bytes(key, b"ok")
        components.storage.delete_key(key)
        return "write + delete"

    check("database", database)
    check("storage", storage)
    ok = all(bool(c["ok"]) for c in checks)
    return JSONResponse({"ok": ok, "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request, components: ComponentsDep) -> Response:
    """Prometheus text format."""
    api_metrics: ApiMetrics = request.app.state.metrics
    api_metrics.refresh(components)
    fleet_metrics: FleetMetrics = request.app.state.fleet_metrics
    fleet_metrics.refresh(components)
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)
