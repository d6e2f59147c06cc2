"""Time from SIGKILLing a worker mid-job until another worker runs the job again.

Each round: two idle `vodforge worker` processes (each leads its own process group) and one
`vodforge scheduler` run against a throwaway PostgreSQL database, with short settings
(VODFORGE_LEASE_TTL_S=4, VODFORGE_HEARTBEAT_S=1, VODFORGE_SCAN_INTERVAL_S=1). A job is
queued; its work (bench.engine.sleep_work) runs a real `sleep 30` child on attempt 1. Once
the job is RUNNING and its child is up, the worker holding it is SIGKILLed (its whole
process group), and the time until the job is RUNNING again under the other worker is read
from job_events. The killed worker is restarted as the next round's standby. At the end every
job must have exactly one SUCCEEDED event.

    .venv/bin/python -m bench.engine.crash_recovery [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.engine.support import (
    migrate,
    percentile,
    print_header,
    start_process,
    stop_process,
    tail,
    throwaway_database,
    vodforge_bin,
    vodforge_env,
)
from vodforge.db.engine import make_engine
from vodforge.domain.states import JobState
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import TenantRepository
from vodforge.tenants.service import TenantService

LEASE_TTL_S = 4.0
HEARTBEAT_S = 1.0
SCAN_INTERVAL_S = 1.0
BOUND_S = LEASE_TTL_S + SCAN_INTERVAL_S + 2.0
SETTINGS = {
    "VODFORGE_LEASE_TTL_S": str(LEASE_TTL_S),
    "VODFORGE_HEARTBEAT_S": str(HEARTBEAT_S),
    "VODFORGE_SCAN_INTERVAL_S": str(SCAN_INTERVAL_S),
    "VODFORGE_WORK": "bench.engine.sleep_work:sleep_work",
}


class RoundFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Recovery:
    job_id: str
    kill_to_expired_s: float
    expired_to_running_s: float
    kill_to_running_s: float
    child_survived_kill: bool
    rerun_by: str
    # When the scheduler's dispatch pass last marked the job (mark_dispatched holds the row
    # lock for its transaction), relative to the expiry: it can race the standby's claim.
    dispatched_after_expiry_s: float | None


def wait_for(what: str, check, timeout_s: float, interval_s: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval_s)
    raise RoundFailed(f"timed out after {timeout_s} s waiting for {what}")


def listeners(url: str) -> int:
    """Worker processes whose LISTEN connection is up (the scheduler does not LISTEN)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = 'LISTEN vodforge_jobs'"
        ).fetchone()
    return int(row[0]) if row else 0


def children_of(pid: int, argv: list[str]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
            if ppid == pid and [part.decode() for part in cmdline] == argv:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Cluster:
    """Two workers and a scheduler, each its own process group; only these are signalled."""

    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root
        self.env = vodforge_env(url, root / "data", **SETTINGS)
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.started = 0

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start_worker(self) -> None:
        self.started += 1
        proc = start_process(
            [vodforge_bin(), "--log-level", "WARNING", "worker"],
            self.env,
            self.log(f"worker-{self.started}"),
        )
        self.workers[proc.pid] = proc

    def start(self) -> None:
        self.scheduler = start_process(
            [vodforge_bin(), "--log-level", "WARNING", "scheduler"], self.env, self.log("sched")
        )
        self.start_worker()
        self.start_worker()
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_for("both workers to LISTEN", lambda: listeners(self.url) >= 2, 60.0, 0.05)

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            if proc is not None:
                stop_process(proc)


def run_round(cluster: Cluster, repo: JobRepository, tenant_id: str, n: int) -> Recovery:
    _, job_id = repo.create_video_and_job(
        tenant_id, f"crash {n}", source_key=f"crash/{n}.mp4", source_bytes=1
    )
    job = wait_for(
        "the job to be RUNNING",
        lambda: (j := repo.get_job(job_id)).state is JobState.RUNNING and j,
        30.0,
    )
    pid = int(str(job.leased_by).split(":")[-2])
    victim = cluster.workers.pop(pid)
    child = wait_for("the sleep child", lambda: children_of(pid, ["sleep", "30"]), 10.0)[0]
    # Kill at a random point of the heartbeat cycle rather than right after the claim.
    time.sleep(random.uniform(0.5, 2.0))
    killed_at = time.time()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    time.sleep(0.3)
    survived = alive(child)
    if survived:
        # An orphan of the worker we killed: ours to clean up.
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)

    def running_again():  # type: ignore[no-untyped-def]
        events = repo.job_events(job_id)
        return [e for e in events if e.to_state is JobState.RUNNING and e.attempt == 2] and events

    events = wait_for("the job to be RUNNING again", running_again, 30.0, 0.01)
    expired = next(e for e in events if e.reason == "lease expired")
    rerun = next(e for e in events if e.to_state is JobState.RUNNING and e.attempt == 2)
    finished = wait_for(
        "the job to succeed",
        lambda: (j := repo.get_job(job_id)).state is JobState.SUCCEEDED and j,
        30.0,
    )
    # The killed worker's LISTEN backend must be gone before its replacement is counted.
    wait_for("the killed worker's session to end", lambda: listeners(cluster.url) <= 1, 30.0)
    cluster.start_worker()
    cluster.wait_ready()
    return Recovery(
        job_id=job_id,
        kill_to_expired_s=expired.at - killed_at,
        expired_to_running_s=rerun.at - expired.at,
        kill_to_running_s=rerun.at - killed_at,
        child_survived_kill=survived,
        rerun_by=str(rerun.worker_id),
        dispatched_after_expiry_s=(
            None if finished.dispatched_at is None else finished.dispatched_at - expired.at
        ),
    )


def verify(repo: JobRepository, job_ids: list[str]) -> list[str]:
    problems = []
    for job_id in job_ids:
        job = repo.get_job(job_id)
        succeeded = [e for e in repo.job_events(job_id) if e.to_state is JobState.SUCCEEDED]
        if job.state is not JobState.SUCCEEDED or len(succeeded) != 1:
            problems.append(f"{job_id}: state {job.state.value}, {len(succeeded)} SUCCEEDED events")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 20)")
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 20)
    random.seed(20261122)
    print_header(
        "crash recovery: SIGKILL a worker mid-job",
        {
            "rounds": rounds,
            "settings": ", ".join(f"{k}={v}" for k, v in SETTINGS.items()),
            "processes": "1 `vodforge scheduler` + 2 `vodforge worker` (1 slot each), PostgreSQL",
            "kill": "SIGKILL to the claiming worker's process group, 0.5-2 s after its "
            "`sleep 30` child started",
            "recovery": "kill -> RUNNING event of attempt 2 (job_events `at`, time.time())",
        },
    )
    results: list[Recovery] = []
    with (
        tempfile.TemporaryDirectory(prefix="vodforge-bench-crash-") as tmp,
        throwaway_database("crash") as url,
    ):
        migrate(url)
        root = Path(tmp)
        cluster = Cluster(url, root)
        engine = make_engine(url)
        try:
            repo = JobRepository(engine)
            tenant = TenantService(TenantRepository(engine)).ensure("crash")
            cluster.start()
            for n in range(rounds):
                try:
                    result = run_round(cluster, repo, tenant.id, n)
                except RoundFailed as exc:
                    logs = "\n".join(
                        f"--- {log.name}\n{tail(log, 15)}" for log in sorted(root.glob("*.log"))
                    )
                    raise RoundFailed(f"round {n + 1}: {exc}\n{logs}") from exc
                results.append(result)
                print(
                    f"round {n + 1:>2}: kill -> expired {result.kill_to_expired_s:5.2f} s, "
                    f"expired -> RUNNING {result.expired_to_running_s * 1000:6.1f} ms, "
                    f"kill -> RUNNING {result.kill_to_running_s:5.2f} s"
                    f" (rerun by pid {result.rerun_by.split(':')[-2]}"
                    + (
                        f", scheduler marked it dispatched at expiry"
                        f" +{result.dispatched_after_expiry_s * 1000:.1f} ms)"
                        if result.dispatched_after_expiry_s is not None
                        else ")"
                    )
                    + ("  (sleep child outlived the kill)" if result.child_survived_kill else ""),
                    flush=True,
                )
            problems = verify(repo, [r.job_id for r in results])
        finally:
            cluster.stop()
            engine.dispose()
    recoveries = [r.kill_to_running_s for r in results]
    print()
    print(
        f"kill -> RUNNING again: p50 {percentile(recoveries, 50):.2f} s, "
        f"p95 {percentile(recoveries, 95):.2f} s, max {max(recoveries):.2f} s "
        f"(bound: lease TTL {LEASE_TTL_S:g} + scan {SCAN_INTERVAL_S:g} + 2 = {BOUND_S:g} s; "
        f"{sum(r <= BOUND_S for r in recoveries)}/{len(recoveries)} within)"
    )
    survivors = sum(r.child_survived_kill for r in results)
    print(
        f"sleep children alive 0.3 s after their worker was SIGKILLed: {survivors}/{len(results)}"
    )
    print(
        f"exactly one SUCCEEDED event per job: "
        f"{'yes' if not problems else 'NO'} ({len(results) - len(problems)}/{len(results)} jobs)"
    )
    for problem in problems:
        print("  " + problem)


if __name__ == "__main__":
    main()
