"""Runs one child process in its own process group and stops it on request.

Stopping follows SPEC §2: SIGTERM to the group, up to 15 s, then SIGKILL and wait. Only the
group this supervisor started is ever signalled, so a stop can never hit another job's ffmpeg.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 15.0
# How often a running child's stop request and deadline are checked.
CHECK_S = 0.1
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ResourceLimits:
    """Limits set in the child before exec (RLIMIT_AS in bytes, RLIMIT_CPU in seconds)."""

    address_space_bytes: int | None = None
    cpu_seconds: int | None = None
    nice: int = 0


@dataclass(frozen=True)
class ChildResult:
    argv: tuple[str, ...]
    returncode: int
    stderr_tail: str
    stopped: bool
    stop_reason: str | None
    timed_out: bool
    wall_s: float
    cpu_s: float
    # CPU time and peak resident set of the child (and the children it waited for).
    max_rss_kb: int

    @property
    def killed_by_signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None


class StopToken:
    """Set once by whoever decides the job must stop (heartbeat, shutdown, cancel)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


def _set_parent_death_signal(signum: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):  # not Linux: the group stop still applies
        pass


def _preexec(limits: ResourceLimits | None) -> Callable[[], None]:
    def setup() -> None:
        # A new session makes the child lead its own process group, so killpg reaches
        # everything it spawns and nothing else.
        os.setsid()
        # If the worker dies (even by SIGKILL) the kernel kills the child too, so a crashed
        # worker never leaves an orphaned ffmpeg burning CPU beside the job's next attempt.
        _set_parent_death_signal(signal.SIGKILL)
        if limits is None:
            return
        if limits.address_space_bytes:
            cap = limits.address_space_bytes
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        if limits.cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        if limits.nice:
            os.nice(limits.nice)

    return setup


class _Countdown:
    """An event set once count_down() has been called `count` times, from any threads."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()
        self.done = threading.Event()

    def count_down(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left <= 0:
                self.done.set()


class _Child:
    """A started child that this supervisor reaps itself, to keep its own resource usage."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.usage: resource.struct_rusage | None = None

    def reap(self, block: bool = False) -> bool:
        if self.proc.returncode is not None:
            return True
        pid, status, usage = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        # wait4 (not Popen.wait) returns the child's own rusage, which stays exact when
        # several jobs run children at once in one worker.
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.usage = usage
        return True

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.reap():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop_group(self, grace_s: float) -> None:
        """SIGTERM the child's group, wait up to grace_s, then SIGKILL the group and reap."""
        self._signal_group(signal.SIGTERM)
        self.wait(grace_s)
        # The leader may have exited while members linger: kill whatever is left.
        self._signal_group(signal.SIGKILL)
        self.reap(block=True)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


def run_child(
    argv: Sequence[str],
    *,
    stop: StopToken | None = None,
    timeout_s: float | None = None,
    limits: ResourceLimits | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    cwd: Path | None = None,
    stderr_tail_lines: int = 40,
    grace_s: float = STOP_GRACE_S,
) -> ChildResult:
    """Run argv to completion, a stop request or the timeout; never raises on exit codes.

    stdout is read line by line (ffmpeg's -progress pipe:1) and stderr is kept as a tail
    for error messages. stdin is closed so a child can never wait on a terminal.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        preexec_fn=_preexec(limits),  # noqa: PLW1509 - setsid/rlimits must run in the child
    )
    assert proc.stdout is not None and proc.stderr is not None
    tail: deque[str] = deque(maxlen=stderr_tail_lines)
    # Set once the child has closed both pipes, as it does when it exits: it is then reaped
    # at once rather than at the next check (which cost every short ffmpeg call ~50 ms).
    pipes_closed = _Countdown(2)

    def pump_stderr() -> None:
        assert proc.stderr is not None
        try:
            for raw in proc.stderr:
                tail.append(raw.decode("utf-8", "replace").rstrip())
        finally:
            pipes_closed.count_down()

    def pump_stdout() -> None:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                if on_stdout_line is not None:
                    with contextlib.suppress(Exception):
                        on_stdout_line(raw.decode("utf-8", "replace").rstrip("\n"))
        finally:
            pipes_closed.count_down()

    readers = [threading.Thread(target=pump_stderr, daemon=True)]
    readers.append(threading.Thread(target=pump_stdout, daemon=True))
    for reader in readers:
        reader.start()

    child = _Child(proc)
    stopped = timed_out = False
    deadline = None if timeout_s is None else started + timeout_s
    while not child.reap():
        if stop is not None and stop.requested:
            stopped = True
            child.stop_group(grace_s)
            break
        if deadline is not None and time.monotonic() > deadline:
            timed_out = True
            child.stop_group(grace_s)
            break
        if pipes_closed.done.is_set():
            # Exiting (or running on without its pipes): look again soon, without spinning.
            time.sleep(0.01)
        else:
            pipes_closed.done.wait(CHECK_S)
    returncode = proc.returncode
    assert returncode is not None and child.usage is not None
    for reader in readers:
        reader.join(timeout=5)
    proc.stdout.close()
    proc.stderr.close()
    usage = child.usage
    return ChildResult(
        argv=tuple(argv),
        returncode=returncode,
        stderr_tail="\n".join(tail),
        stopped=stopped,
        stop_reason=stop.reason if (stop is not None and stopped) else None,
        timed_out=timed_out,
        wall_s=time.monotonic() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_kb=usage.ru_maxrss,
    )
