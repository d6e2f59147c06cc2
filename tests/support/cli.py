"""Runs the real `vodforge` CLI as subprocesses for acceptance tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODFORGE_")}
    env.update(
        VODFORGE_DATABASE_URL=database_url,
        VODFORGE_DATA_DIR=str(data_dir),
        VODFORGE_INTERNAL_TOKEN="test-token",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vodforge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_json(args: list[str], env: dict[str, str]) -> Any:
    result = run_cli([*args, "--json"], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@contextmanager
def cli_process(
    args: list[str], env: dict[str, str], log: Path, *, launcher: list[str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running vodforge process in its own process group, stopped at the end
    (SIGTERM, then SIGKILL). `launcher` replaces `python -m vodforge` (the skewed clock)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*(launcher or [sys.executable, "-m", "vodforge"]), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def log_events(log: Path) -> list[dict[str, Any]]:
    events = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
