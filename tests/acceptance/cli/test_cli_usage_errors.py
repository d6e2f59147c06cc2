"""Refusals as a shell sees them from the real process: the exit code, exactly one line on
stderr, nothing on stdout, and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli_env, run_cli, run_json

CASES = [
    (["tenants", "create", ""], 2, "error: argument NAME: tenant name '' is not valid"),
    (["tenants", "create", "has space"], 2, "error: argument NAME: tenant name 'has space'"),
    (["worker", "--concurrency", "0"], 2, "error: argument --concurrency: 0 is out of range"),
    (["up", "--workers", "0"], 2, "error: argument --workers: 0 is out of range"),
    (["list", "--limit", "-5"], 2, "error: argument --limit: -5 is out of range"),
    (["api", "--port", "70000"], 2, "error: argument --port: 70000 is out of range"),
    (["wait", "00000000-0000-0000-0000-000000000000", "--timeout", "-1"], 2, "error: argument"),
    (["sample", "x.mp4", "--seconds", "0"], 2, "error: argument --seconds: 0 is out of range"),
    (["status", "not-a-uuid"], 2, "error: argument VIDEO_ID: 'not-a-uuid' is not a video id"),
    # Domain errors keep their codes: NOT_FOUND is 1, a rejected input 2.
    (["status", "00000000-0000-0000-0000-000000000000"], 1, "error: NOT_FOUND: "),
    (["tenants", "rotate-key", "nobody"], 1, "error: NOT_FOUND: tenant 'nobody' not found"),
    (["submit", "/no/such/file.mp4"], 2, "error: INVALID_INPUT: /no/such/file.mp4 is not"),
]


@pytest.mark.parametrize(("argv", "code", "start"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_refusals_are_one_line(argv: list[str], code: int, start: str, tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path / "data")
    result = run_cli(argv, env, timeout=30)
    assert result.returncode == code
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), result.stderr


def test_a_second_tenant_of_the_same_name_is_a_conflict(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path / "data")
    run_json(["tenants", "create", "acme"], env)
    again = run_cli(["tenants", "create", "acme", "--json"], env)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.splitlines() == [again.stderr.strip()]
    assert again.stderr.startswith("error: CONFLICT: ")
