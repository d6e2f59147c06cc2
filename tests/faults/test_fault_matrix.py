"""The fault matrix (issue 10): every fault injected into real transcodes on a real fleet under
API load, and its row in one table. The short profile (CI) injects each fault once; the soak
profile (`--soak-minutes N`) draws faults at random for N minutes, the 60 s database outage and
the held S3 request included. Either way, the run fails on any lost video, double publish,
incomplete package or process that died by itself, and prints its table (also written to
`--fault-table FILE` when given)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.harness import table
from tests.faults.harness.faults import FAULTS
from tests.faults.harness.rig import Rig, Row

SEED = 20261123


def publish(
    rows: list[Row], request: pytest.FixtureRequest, path: Path, *, show: bool = True
) -> str:
    text = table.render(rows, table.totals(rows)) + "\n\n" + table.summarize(rows)
    path.write_text(text + "\n")
    target = request.config.getoption("--fault-table")
    if target:
        Path(target).write_text(text + "\n")
    if not show:
        return text
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else _nothing():
        print("\n" + text)
    return text


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def check(rows: list[Row], text: str) -> None:
    problems = [f"{row.fault.name}: {p}" for row in rows for p in table.findings(row)]
    problems += [
        f"{r.fault.name}: injected nothing ({r.injection.note})"
        for r in rows
        if r.injection.count == 0
    ]
    # A full scratch disk is named for what it is, never a bug (INTERNAL_ERROR) or a bad
    # package (OUTPUT_INVALID): an operator must see at once that a disk needs room.
    problems += [
        f"{r.fault.name}: an attempt retried as {why}"
        for r in rows
        if r.fault.name == "scratch-full"
        for why in r.outcome.retried
        if why in ("INTERNAL_ERROR", "OUTPUT_INVALID")
    ]
    # The API answers every request during every fault (503 while its database is down, never
    # a 500, a reset or a timeout): table.findings lists each one it did not.
    assert not problems, "\n".join(problems) + "\n\n" + text


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_fault_once(
    tmp_path: Path, soak_minutes: float, request: pytest.FixtureRequest
) -> None:
    if soak_minutes:
        pytest.skip("--soak-minutes runs the soak profile instead of the short one")
    rows: list[Row] = []
    with Rig(tmp_path, SEED) as rig:
        for fault in FAULTS:
            if not fault.soak_only:
                rows.append(rig.episode(fault))
    text = publish(rows, request, tmp_path / "fault-table.md")
    check(rows, text)
    # Nothing in the short profile should exhaust ten attempts.
    assert all(not row.outcome.failed for row in rows), text


@pytest.mark.soak
@pytest.mark.timeout(0)
def test_soak(tmp_path: Path, soak_minutes: float, request: pytest.FixtureRequest) -> None:
    if not soak_minutes:
        pytest.skip("the soak profile runs only with --soak-minutes N")
    rows: list[Row] = []
    deadline = time.monotonic() + soak_minutes * 60
    with Rig(tmp_path, SEED) as rig:
        order = list(FAULTS)
        while time.monotonic() < deadline:
            rig.rng.shuffle(order)
            for fault in order:
                if time.monotonic() >= deadline:
                    break
                rows.append(rig.episode(fault))
                # Written after every episode, so a long run can be watched (and survives).
                publish(rows, request, tmp_path / "fault-table.md", show=False)
    text = publish(rows, request, tmp_path / "fault-table.md")
    check(rows, text)
