"""The child supervisor: stops a process group (SIGTERM, grace, SIGKILL), time limits, usage."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from vodforge import process
from vodforge.process import ResourceLimits, StopToken, run_child

STUBBORN = (
    "import signal, subprocess, sys, time;"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    # A grandchild in the same group must die with the group.
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
    "print('ready', flush=True); time.sleep(60)"
)


def test_stop_escalates_to_sigkill_for_a_child_ignoring_sigterm() -> None:
    stop = StopToken()
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        stop.request("cancelled")

    started = time.monotonic()
    result = run_child(
        [sys.executable, "-c", STUBBORN], stop=stop, on_stdout_line=on_line, grace_s=1.0
    )
    took = time.monotonic() - started
    assert lines == ["ready"]
    assert result.stopped and result.stop_reason == "cancelled"
    assert result.killed_by_signal == 9
    assert 1.0 <= took < 5.0


def test_cooperative_child_stops_on_sigterm_within_grace() -> None:
    stop = StopToken()
    threading.Timer(0.3, stop.request, args=("lease_lost",)).start()
    result = run_child([sys.executable, "-c", "import time; time.sleep(60)"], stop=stop)
    assert result.stopped and result.killed_by_signal == 15
    assert result.wall_s < 3


def test_timeout_stops_the_child() -> None:
    result = run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.5)
    assert result.timed_out and not result.stopped and result.returncode < 0


def test_exit_code_stderr_tail_and_own_cpu_time() -> None:
    code = "import sys; sum(range(30_000_000)); sys.stderr.write('boom\\n'); sys.exit(3)"
    result = run_child([sys.executable, "-c", code])
    assert result.returncode == 3 and result.stderr_tail == "boom"
    assert result.cpu_s > 0.1 and result.max_rss_kb > 1000


def test_address_space_limit_applies_in_the_child() -> None:
    code = "b = bytearray(512 * 1024 * 1024)"
    limits = ResourceLimits(address_space_bytes=256 * 1024 * 1024)
    result = run_child([sys.executable, "-c", code], limits=limits)
    assert result.returncode == 1 and "MemoryError" in result.stderr_tail


def test_a_child_is_reaped_as_soon_as_it_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not at the next periodic check: every short ffmpeg call (the probe) would wait for it.
    With the checks 5 s apart, a 50 ms child that comes back well before 5 s was reaped on
    its exit; the margin holds on a loaded machine, where a timing bound near 0.1 s did not."""
    monkeypatch.setattr(process, "CHECK_S", 5.0)
    started = time.monotonic()
    result = run_child(["sleep", "0.05"], stop=StopToken(), timeout_s=30)
    assert result.returncode == 0
    assert time.monotonic() - started < 2.5
