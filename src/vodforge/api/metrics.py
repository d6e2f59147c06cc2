"""Prometheus metrics of one API app: job gauges and the scaling signal read at scrape time,
HTTP latency by route."""

from __future__ import annotations

import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge, Histogram
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vodforge.bootstrap import Components
from vodforge.db.access import reading
from vodforge.db.tables import jobs
from vodforge.domain.states import JobState
from vodforge.jobs.records import Backlog
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
        backlog = Backlog(
            queued=counts.get("QUEUED", 0),
            retry_wait=counts.get("RETRY_WAIT", 0),
            running=counts.get("RUNNING", 0),
        )
        self.backlog.set(backlog.backlog)
        self.running.set(backlog.running)
        decision = scaling_signal(components.repo, components.scaling_policy, backlog)
        self.busy_workers.set(decision.busy_workers)
        self.desired_workers.set(decision.desired_workers)


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label values), or 'unmatched'.

    Read from the scope after routing: the router records the route it chose there (a
    partial match too, for a 405), whichever router it was included through.
    """
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class RequestTimer:
    """Observes each HTTP request's time to its response headers, by method, route template
    and status. Plain ASGI rather than `@app.middleware("http")`: that one runs every request
    through an extra task and memory stream, a measurable share of a small request's cost."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            observed = True
            self.metrics.http.labels(scope["method"], route_template(scope), str(status)).observe(
                time.perf_counter() - started
            )

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            if not observed:  # it raised before answering: the client gets a 500
                observe(500)


def install_metrics(app: FastAPI, metrics: ApiMetrics) -> None:
    app.add_middleware(RequestTimer, metrics=metrics)
