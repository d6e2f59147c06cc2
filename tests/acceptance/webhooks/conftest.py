"""A real webhook receiver on 127.0.0.1 for the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.webhooks import Receiver, receiver


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as server:
        yield server
