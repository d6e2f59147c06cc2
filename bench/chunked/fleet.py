"""One measured run of the real system: a fresh data dir (embedded SQLite + file storage),
K `vodforge worker` processes and one `vodforge scheduler`, `vodforge submit SRC --json`,
until the video is READY.

Wall is time.monotonic from just before `submit` starts to the poll that sees READY (the
database is read every 0.1 s, in this process, with sqlite3: no extra CLI processes run
during a measurement). CPU is user+sys of every process tree the run started (submit, each
worker with the ffmpeg processes it reaped, the scheduler) from os.wait4 after they exit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLL_S = 0.1
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


class RunError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunConfig:
    key: str
    label: str
    chunk_s: float  # 0: chunking off
    workers: int
    threads: int = 1


@dataclass
class JobRow:
    id: str
    kind: str
    parent_id: str | None
    state: str
    attempts: int
    spec: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunResult:
    config: RunConfig
    data_dir: Path
    video_id: str
    wall_s: float
    cpu_s: float
    cpu_by_process: dict[str, float]
    loadavg_before: tuple[float, float, float]
    loadavg_after: tuple[float, float, float]
    other_cores: float  # CPU the rest of the machine used during the run, in cores
    package: dict[str, Any]
    jobs: list[JobRow]

    @property
    def storage(self) -> Path:
        return self.data_dir / "storage"


# ----------------------------------------------------------------------------- the machine


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def busy_cpu_s() -> float:
    """Machine-wide busy CPU seconds so far (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """A live process's own CPU plus its reaped children's (utime, stime, cutime, cstime)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- the run


def vodforge_env(
    data_dir: Path, config: RunConfig, min_duration_s: float, code: Path | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODFORGE_")}
    if code is not None:
        # Every process of every run imports this copy of vodforge, whatever is edited since.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env | {
        "VODFORGE_DATA_DIR": str(data_dir),
        "VODFORGE_CHUNK_SECONDS": f"{config.chunk_s:g}",
        "VODFORGE_CHUNK_MIN_DURATION_S": f"{min_duration_s:g}",
        "VODFORGE_FFMPEG_THREADS": str(config.threads),
        "VODFORGE_LOG_FORMAT": "json",
    }


def vodforge_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "vodforge", *args]


class Fleet:
    """The long-running processes of one run, each a child of this process."""

    def __init__(self, env: dict[str, str], logs: Path, tag: str) -> None:
        self.env, self.logs, self.tag = env, logs, tag
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rusage: dict[str, float] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{self.tag}-{name}.log").open("wb")
        with log:
            self.procs[name] = subprocess.Popen(
                vodforge_argv(*args), env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def wait_started(self, names: list[str], marker: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        for name in names:
            log = self.logs / f"{self.tag}-{name}.log"
            while marker not in log.read_text(errors="replace"):
                if self.procs[name].poll() is not None:
                    raise RunError(f"{name} exited at start: {log.read_text()[-800:]}")
                if time.monotonic() > deadline:
                    raise RunError(f"{name} did not log {marker} in {START_TIMEOUT_S:.0f} s")
                time.sleep(0.1)

    def cpu_now(self) -> float:
        return sum(tree_cpu_s(p.pid) for p in self.procs.values() if p.poll() is None)

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then wait4 each for its tree's rusage."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, proc in self.procs.items():
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    self.rusage[name] = usage.ru_utime + usage.ru_stime
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    deadline = time.monotonic() + 5
                time.sleep(0.05)


def _run_submit(env: dict[str, str], source: Path, logs: Path, tag: str) -> tuple[str, float]:
    err = logs / f"{tag}-submit.log"
    with err.open("wb") as err_file:
        proc = subprocess.Popen(
            vodforge_argv("submit", str(source), "--json"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err_file,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RunError(f"submit failed: {err.read_text()[-800:]}")
    return json.loads(out)["id"], usage.ru_utime + usage.ru_stime


def _video_row(db: Path, video_id: str) -> tuple[str, str | None]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        row = conn.execute("SELECT status, package FROM videos WHERE id = ?", (video_id,))
        found = row.fetchone()
    if found is None:
        raise RunError(f"video {video_id} not in {db}")
    return found[0], found[1]


def read_jobs(db: Path, video_id: str) -> list[JobRow]:
    """Every job of the video (the family, when chunked) with its events, oldest first."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        jobs = {
            row[0]: JobRow(row[0], row[1], row[2], row[3], row[4], json.loads(row[5] or "{}"))
            for row in conn.execute(
                "SELECT id, kind, parent_id, state, attempt_count, spec FROM jobs "
                "WHERE video_id = ? ORDER BY created_at, id",
                (video_id,),
            )
        }
        for job_id, at, from_state, to_state, attempt, reason, worker in conn.execute(
            "SELECT e.job_id, e.at, e.from_state, e.to_state, e.attempt, e.reason, e.worker_id "
            "FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.video_id = ? "
            "ORDER BY e.id",
            (video_id,),
        ):
            jobs[job_id].events.append(
                {
                    "at": at,
                    "from": from_state,
                    "to": to_state,
                    "attempt": attempt,
                    "reason": reason,
                    "worker": worker,
                }
            )
    return list(jobs.values())


def run_system(
    config: RunConfig,
    source: Path,
    work: Path,
    logs: Path,
    *,
    min_duration_s: float,
    timeout_s: float,
    code: Path | None = None,
) -> RunResult:
    data_dir = work / f"{config.key}-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = vodforge_env(data_dir, config, min_duration_s, code)
    # Create the database (migrations) before anything is timed or started in parallel.
    init = subprocess.run(vodforge_argv("list", "--json"), env=env, capture_output=True)
    if init.returncode != 0:
        raise RunError(f"vodforge list failed: {init.stderr.decode()[-800:]}")
    db = data_dir / "vodforge.db"
    fleet = Fleet(env, logs, config.key)
    try:
        fleet.start("scheduler", "scheduler")
        workers = [f"worker{i + 1}" for i in range(config.workers)]
        for name in workers:
            fleet.start(name, "worker")
        fleet.wait_started(workers, "WORKER_STARTED")
        time.sleep(1.0)  # let start-up settle before the clock starts

        load_before = loadavg()
        busy_before, ours_before = busy_cpu_s(), fleet.cpu_now()
        started = time.monotonic()
        video_id, submit_cpu = _run_submit(env, source, logs, config.key)
        while True:
            status, package = _video_row(db, video_id)
            if status == "READY":
                break
            if status in ("FAILED", "CANCELLED", "DELETED"):
                jobs = read_jobs(db, video_id)
                raise RunError(f"video {video_id} ended {status}: {_failures(jobs)}")
            if time.monotonic() - started > timeout_s:
                raise RunError(f"video {video_id} not READY after {timeout_s:.0f} s ({status})")
            for name, proc in fleet.procs.items():
                if proc.poll() is not None:
                    raise RunError(f"{name} exited {proc.returncode} during the run")
            time.sleep(POLL_S)
        wall = time.monotonic() - started
        ours = fleet.cpu_now() - ours_before + submit_cpu
        busy = busy_cpu_s() - busy_before
        load_after = loadavg()
    finally:
        fleet.stop()
    cpu_by_process = {"submit": submit_cpu, **fleet.rusage}
    return RunResult(
        config=config,
        data_dir=data_dir,
        video_id=video_id,
        wall_s=wall,
        cpu_s=sum(cpu_by_process.values()),
        cpu_by_process=cpu_by_process,
        loadavg_before=load_before,
        loadavg_after=load_after,
        other_cores=max(0.0, busy - ours) / wall,
        package=json.loads(package or "{}"),
        jobs=read_jobs(db, video_id),
    )


def _failures(jobs: list[JobRow]) -> str:
    ended = [e for job in jobs for e in job.events if e["to"] in ("FAILED", "DEAD", "RETRY_WAIT")]
    return "; ".join(f"{e['to']}: {e['reason']}" for e in ended[-5:]) or "no failure event"
