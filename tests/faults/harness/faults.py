"""The faults a run injects, each a function of the rig that returns once the fault is over
(the service restarted, the proxy passing again, the ballast removed, the killed process
replaced). Each is injected while jobs are running: what it interrupts is real work."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.faults.harness.processes import Managed
    from tests.faults.harness.rig import Rig


@dataclass
class Injection:
    fault: str
    started: float = 0.0  # time.time()
    ended: float = 0.0
    count: int = 0  # how many times the fault actually hit (0: it found nothing to hit)
    note: str = ""


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    inject: Callable[[Rig, Injection], None]
    chunked: bool = False  # the episode needs a long (chunked) video in flight
    soak_only: bool = False


def _outage(
    rig: Rig,
    injection: Injection,
    stop: Callable[[], None],
    start: Callable[[], None],
    seconds: float,
) -> None:
    rig.wait_running()
    injection.started = time.time()
    stop()
    injection.count = 1
    time.sleep(seconds)
    start()


def pg_restart(rig: Rig, injection: Injection) -> None:
    rig.wait_running()
    injection.started = time.time()
    rig.pg.restart()
    injection.count = 1


def pg_outage(seconds: float) -> Callable[[Rig, Injection], None]:
    def inject(rig: Rig, injection: Injection) -> None:
        _outage(rig, injection, rig.pg.stop, rig.pg.start, seconds)

    return inject


def redis_stop(rig: Rig, injection: Injection) -> None:
    _outage(rig, injection, rig.redis.stop, rig.redis.start, 12)


def redis_stall(rig: Rig, injection: Injection) -> None:
    _outage(rig, injection, rig.redis.stall, rig.redis.resume, 12)


def storage(kind: str, seconds: float, **options: object) -> Callable[[Rig, Injection], None]:
    def inject(rig: Rig, injection: Injection) -> None:
        rig.wait_running()
        before = sum(rig.proxy.counts.values())
        injection.started = time.time()
        rig.proxy.set_fault(kind, **options)  # type: ignore[arg-type]
        time.sleep(seconds)
        rig.proxy.clear()
        injection.count = sum(rig.proxy.counts.values()) - before

    return inject


def scratch_full(rig: Rig, injection: Injection) -> None:
    """The scratch file system filled to its last few kilobytes for 12 s while jobs write."""
    rig.wait_running()
    injection.started = time.time()
    ballast = rig.scratch / "ballast"
    with ballast.open("wb") as out, contextlib.suppress(OSError):
        block = b"\0" * (1 << 20)
        while True:  # until ENOSPC
            out.write(block)
            out.flush()
    injection.count = 1
    injection.note = f"{ballast.stat().st_size >> 20} MiB ballast"
    time.sleep(12)
    ballast.unlink()


def ffmpeg_killed(rig: Rig, injection: Injection) -> None:
    """A worker's ffmpeg SIGKILLed, as the kernel's OOM killer would end it."""

    def kill_one() -> bool:
        for pid in rig.deployment.ffmpeg_of_workers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                injection.started = time.time()
                injection.count = 1
                return True
        return False  # none running, or it ended just before the kill: look again

    rig.wait_for(kill_one, 60, "an ffmpeg to kill")


def worker_killed_in(stage: str) -> Callable[[Rig, Injection], None]:
    """SIGKILL the worker (its process group) the moment one reaches `stage`."""

    def inject(rig: Rig, injection: Injection) -> None:
        victim = rig.pause_at(stage)
        if victim is None:
            injection.note = f"no worker reached {stage}"
            return
        injection.started = time.time()
        rig.deployment.kill(victim)
        injection.count = 1

    return inject


def _transcoding_worker(rig: Rig) -> Managed:
    def found() -> Managed | None:
        for pid in rig.deployment.ffmpeg_of_workers():
            worker = rig.deployment.worker_running(pid)
            if worker is not None:
                return worker
        return None

    worker = rig.wait_for(found, 60, "a transcoding worker")
    assert worker is not None
    return worker


def worker_killed_in_transcode(rig: Rig, injection: Injection) -> None:
    victim = _transcoding_worker(rig)
    injection.started = time.time()
    rig.deployment.kill(victim)
    injection.count = 1


def scheduler_killed_in_scan(rig: Rig, injection: Injection) -> None:
    """A worker is killed mid-job so its lease lapses; then, while the scanner has that lease
    to recover, the scheduler is SIGKILLed three times at random moments (its scan runs every
    second) and replaced each time. The lapsed job must still be recovered, once."""
    victim = _transcoding_worker(rig)
    injection.started = time.time()
    rig.deployment.kill(victim)
    time.sleep(rig.lease_ttl_s)
    for _ in range(3):
        (scheduler,) = rig.deployment.live("scheduler")
        time.sleep(rig.rng.uniform(0.3, 1.5))
        rig.deployment.kill(scheduler)
        injection.count += 1


FAULTS = [
    Fault("pg-restart", "PostgreSQL restarted (fast shutdown, start)", pg_restart),
    Fault("pg-outage-10s", "PostgreSQL down 10 s", pg_outage(10)),
    Fault("pg-outage-60s", "PostgreSQL down 60 s (> lease TTL)", pg_outage(60), soak_only=True),
    Fault("redis-stop", "Redis stopped 12 s", redis_stop),
    Fault("redis-stall", "Redis SIGSTOPped 12 s", redis_stall),
    Fault("s3-5xx", "S3: every 2nd request 503 for 15 s", storage("error", 15, every=2)),
    Fault("s3-reset", "S3: every 3rd request reset for 15 s", storage("reset", 15, every=3)),
    Fault(
        "s3-timeout",
        "S3: one PUT held past the client's read timeout",
        storage("timeout", 5, ops={"put", "upload_part"}, times=1),
        soak_only=True,
    ),
    Fault("s3-outage", "S3: every connection reset for 15 s", storage("outage", 15)),
    Fault("scratch-full", "scratch file system full for 12 s", scratch_full),
    Fault("ffmpeg-oom", "a worker's ffmpeg SIGKILLed (OOM-style)", ffmpeg_killed),
    Fault("kill-probe", "worker SIGKILLed in probe", worker_killed_in("probe")),
    Fault("kill-transcode", "worker SIGKILLed in transcode", worker_killed_in_transcode),
    Fault("kill-validate", "worker SIGKILLed in validate", worker_killed_in("validate")),
    Fault("kill-upload", "worker SIGKILLed in upload", worker_killed_in("upload")),
    Fault("kill-publish", "worker SIGKILLed about to publish", worker_killed_in("publish")),
    Fault("kill-stitch", "worker SIGKILLed in a stitch", worker_killed_in("stitch"), chunked=True),
    Fault("scheduler-kill", "scheduler SIGKILLed 3× during scans", scheduler_killed_in_scan),
]
