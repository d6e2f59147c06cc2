"""deploy/grafana/vodforge.json is valid JSON whose every query names metrics /metrics serves,
so renaming a metric without the dashboard (or the reverse) fails here."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "vodforge.json"
METRIC = re.compile(r"\bvodforge_[a-z_]+")


def test_every_panel_queries_metrics_the_api_serves(client: TestClient) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    client.get("/healthz")  # the request histogram has series once a request was timed
    served = {
        sample.name
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    }
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in METRIC.findall(target["expr"])
    }
    assert len(queried) >= 12, queried
    assert queried <= served, sorted(queried - served)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
