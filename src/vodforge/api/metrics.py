"""Prometheus metrics of one API app: job gauges and the scaling signal read at scrape time,
HTTP latency by route."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Gauge, Histogram
from sqlalchemy import func, select

from vodforge.bootstrap import Components
from vodforge.db.access import reading
from vodforge.db.tables import jobs
from vodforge.domain.states import JobState
from vodforge.operations.scaling import scaling_signal


class ApiMetrics:
    """One registry per app, so that apps built side by side (tests) never share series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge("vodforge_jobs", "Jobs by state", ["state"], registry=self.registry)
        self.backlog = Gauge("vodforge_backlog", "QUEUED + RETRY_WAIT jobs", registry=self.registry)
        self.running = Gauge("vodforge_running_jobs", "RUNNING jobs", registry=self.registry)
        self.busy_workers = Gauge(
            "vodforge_busy_workers", "Workers running at least one job", registry=self.registry
        )
        self.desired_workers = Gauge(
            "vodforge_desired_workers",
            "Workers the fleet should have (the scaling signal, SPEC §5)",
            registry=self.registry,
        )
        self.http = Histogram(
            "vodforge_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            registry=self.registry,
        )

    def refresh(self, components: Components) -> None:
        with reading(components.engine) as conn:
            rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))
            counts: dict[str, int] = {row[0]: int(row[1]) for row in rows}
        for state in JobState:
            self.jobs.labels(state.value).set(counts.get(state.value, 0))
        self.backlog.set(counts.get("QUEUED", 0) + counts.get("RETRY_WAIT", 0))
        self.running.set(counts.get("RUNNING", 0))
        decision = scaling_signal(components.repo, components.scaling_policy)
        self.busy_workers.set(decision.busy_workers)
        self.desired_workers.set(decision.desired_workers)


def route_template(request: Request) -> str:
    """The matched route's path template (bounded label values), or 'unmatched'.

    Read from the scope after routing: the router records the route it chose there (a
    partial match too, for a 405), whichever router it was included through.
    """
    route = request.scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


def install_metrics(app: FastAPI, metrics: ApiMetrics) -> None:
    @app.middleware("http")
    async def time_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        metrics.http.labels(
            request.method, route_template(request), str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response
