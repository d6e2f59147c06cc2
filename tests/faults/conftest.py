"""The fault-injection tier (issue 10): real API, scheduler and worker processes on their own
PostgreSQL cluster, Redis server and S3-protocol server, with faults injected while real
transcodes run. Every test here is marked `faults` (`pytest -m faults` runs the tier alone).

Two profiles: `short` (the default, what CI runs: each fault once, a few jobs) and `soak`
(`--soak-minutes N`: faults drawn at random moments for N minutes, with the table printed and
written to `--fault-table`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness.s3faults import StorageFaultProxy, storage_fault_proxy
from tests.support.s3server import aws_test_env, moto_server, new_bucket_name, s3_client

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def soak_minutes(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--soak-minutes"))


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server of the module's own (the fault rig starts its own)."""
    with aws_test_env(), moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = new_bucket_name()
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[StorageFaultProxy]:
    """The storage fault proxy in front of the module's S3 server, passing everything through
    until a test sets a fault."""
    with aws_test_env(), storage_fault_proxy(s3_endpoint) as running:
        yield running
