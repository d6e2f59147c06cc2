"""The vodforge processes of a fault run: one `api`, one `scheduler` and a few `worker`s, each
the leader of its own process group so a kill takes its ffmpeg children with it. A process
the test kills is replaced; one that exits by itself is a finding, reported by `deaths()`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.faults.harness.services import free_port
from tests.support.procs import live_processes_mentioning


@dataclass
class Managed:
    role: str  # "api", "scheduler" or "worker"
    args: list[str]  # the vodforge command line after `vodforge`
    launcher: list[str]  # what runs it: `python -m vodforge`, or the skewed-clock shim
    proc: subprocess.Popen[bytes]
    log: Path
    out: IO[bytes]
    killed: bool = False  # by the test; an exit the test did not cause is a finding


@dataclass
class Deployment:
    env: dict[str, str]
    logs: Path
    workers: int = 3
    api_port: int = field(default_factory=free_port)
    procs: list[Managed] = field(default_factory=list)
    _count: int = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        self.spawn("api", ["api", "--host", "127.0.0.1", "--port", str(self.api_port)])
        self.spawn("scheduler", ["scheduler"])
        for _ in range(self.workers):
            self.spawn("worker", ["worker"])
        self.wait_api()

    def spawn(self, role: str, args: list[str], launcher: list[str] | None = None) -> Managed:
        launcher = launcher or [sys.executable, "-m", "vodforge"]
        self._count += 1
        log = self.logs / f"{role}-{self._count}.log"
        out = log.open("wb")
        proc = subprocess.Popen(
            [*launcher, *args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        managed = Managed(role, args, launcher, proc, log, out)
        self.procs.append(managed)
        return managed

    def wait_api(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"the API did not start; see {self.logs}")

    def live(self, role: str) -> list[Managed]:
        return [m for m in self.procs if m.role == role and m.proc.poll() is None]

    def kill(self, managed: Managed) -> None:
        """SIGKILL the process and its group (its ffmpeg children die with it, as when a
        host is lost), then start a replacement with the same role."""
        managed.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(managed.proc.pid, signal.SIGKILL)
        managed.proc.wait(timeout=10)
        self.spawn(managed.role, managed.args, managed.launcher)

    def ffmpeg_of_workers(self) -> list[int]:
        """Live ffmpeg processes encoding for a live worker (its children; not the
        `ffmpeg -version` a worker runs once to check its binary)."""
        return [
            pid
            for worker in self.live("worker")
            for pid in live_processes_mentioning("ffmpeg", parent=worker.proc.pid)
            if _encoding(pid)
        ]

    def worker_running(self, ffmpeg_pid: int) -> Managed | None:
        parent = _parent(ffmpeg_pid)
        return next((m for m in self.live("worker") if m.proc.pid == parent), None)

    def deaths(self) -> list[str]:
        """Processes that exited although the test never killed them."""
        return [
            f"{m.role} pid {m.proc.pid} exited {m.proc.returncode} (log {m.log})"
            for m in self.procs
            if not m.killed and m.proc.poll() is not None
        ]

    def stop(self) -> None:
        for managed in self.procs:
            if managed.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(managed.proc.pid, signal.SIGTERM)
        for managed in self.procs:
            try:
                managed.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(managed.proc.pid, signal.SIGKILL)
                managed.proc.wait()
            managed.out.close()


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _encoding(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return comm.startswith("ffmpeg") and b"-i" in args
