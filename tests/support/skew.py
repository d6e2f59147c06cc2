"""Runs the real `vodforge` CLI with its wall clock shifted, for clock-skew tests: the process
believes it runs on a machine `offset_s` seconds off the database's (see skewed_cli.py for why
not libfaketime)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.cli import cli_process


def skewed_argv(offset_s: int, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "tests.support.skewed_cli", str(offset_s), *args]


def run_skewed(
    offset_s: int, args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        skewed_argv(offset_s, args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@contextmanager
def skewed_process(
    offset_s: int, args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running vodforge process `offset_s` seconds off, in its own process group,
    stopped (SIGTERM, then SIGKILL) at the end."""
    with cli_process(args, env, log, launcher=skewed_argv(offset_s, [])) as proc:
        yield proc
