"""The fault-injection tier (issue 10): real API, scheduler and worker processes on their own
PostgreSQL cluster, Redis server and S3-protocol server, with faults injected while real
transcodes run. Every test here is marked `faults` (`pytest -m faults` runs the tier alone).

Two profiles: `short` (the default, what CI runs: each fault once, a few jobs) and `soak`
(`--soak-minutes N`: faults drawn at random moments for N minutes, with the table printed and
written to `--fault-table`)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def soak_minutes(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--soak-minutes"))
