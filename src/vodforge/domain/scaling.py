"""How many workers the fleet should have: follows backlog and running jobs, never in-flight
messages (the seeds' autoscaler scaled out on those: 5 machines for an empty backlog)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingPolicy:
    min_workers: int = 0
    max_workers: int = 10
    # Jobs one worker runs at once (`vodforge worker --concurrency N`).
    jobs_per_worker: int = 1
    # Scale to zero only after the system has been idle this long: an upload that arrives a
    # minute after the last one finished should not wait for a machine to boot.
    scale_to_zero_after_s: float = 600.0

    def __post_init__(self) -> None:
        if self.min_workers < 0:
            raise ValueError(f"min_workers must be >= 0, got {self.min_workers}")
        if self.max_workers < 1 or self.max_workers < self.min_workers:
            raise ValueError(
                f"max_workers must be >= 1 and >= min_workers ({self.min_workers}), "
                f"got {self.max_workers}"
            )
        if self.jobs_per_worker < 1:
            raise ValueError(f"jobs_per_worker must be >= 1, got {self.jobs_per_worker}")
        if self.scale_to_zero_after_s < 0:
            raise ValueError("scale_to_zero_after_s must be >= 0")


@dataclass(frozen=True)
class ScalingDecision:
    backlog: int
    running: int
    busy_workers: int
    desired_workers: int
    reason: str

    def to_json(self) -> dict[str, int | str]:
        return {
            "backlog": self.backlog,
            "running": self.running,
            "busy_workers": self.busy_workers,
            "desired_workers": self.desired_workers,
            "reason": self.reason,
        }


def worker_of_lease(leased_by: str) -> str:
    """The worker process a lease holder belongs to: a worker leases each job under
    `<worker id>/<slot>`, and a worker with two busy slots is still one busy machine."""
    return leased_by.split("/", 1)[0]


def decide_workers(
    *,
    backlog: int,
    running: int,
    busy_workers: int,
    idle_for_s: float | None,
    policy: ScalingPolicy,
) -> ScalingDecision:
    """The number of workers the fleet should have now, and why.

    `backlog` is QUEUED + RETRY_WAIT, `running` the RUNNING jobs, `busy_workers` the distinct
    workers holding them, `idle_for_s` the seconds since the last job transition (None: no job
    ever existed). The answer lies within [min, max] unless more workers than max are busy
    (they are never taken away mid-job), grows with the backlog, and is zero only once nothing
    has waited or run for `scale_to_zero_after_s`.
    """
    if min(backlog, running, busy_workers) < 0:
        raise ValueError("backlog, running and busy_workers must be >= 0")

    def decision(desired: int, reason: str) -> ScalingDecision:
        return ScalingDecision(backlog, running, busy_workers, desired, reason)

    per_worker = policy.jobs_per_worker
    needed = math.ceil((backlog + running) / per_worker)
    desired = min(max(needed, policy.min_workers), policy.max_workers)
    reason = f"backlog {backlog} + running {running} at {per_worker} per worker: {needed}"
    if needed > policy.max_workers:
        reason += f"; capped at max {policy.max_workers}"
    elif needed < policy.min_workers:
        reason += f"; raised to min {policy.min_workers}"
    if needed == 0 and desired == 0 and busy_workers == 0:
        recently_busy = idle_for_s is not None and idle_for_s < policy.scale_to_zero_after_s
        if recently_busy:
            assert idle_for_s is not None
            return decision(
                1,
                f"nothing waiting or running for {idle_for_s:.0f} s; keeping one worker until "
                f"{policy.scale_to_zero_after_s:.0f} s idle",
            )
        return decision(0, "nothing waiting or running: scale to zero")
    if desired < busy_workers:
        # Scaling in never takes a machine away from a job that is running on it.
        return decision(busy_workers, f"{reason}; kept {busy_workers} busy worker(s)")
    return decision(desired, reason)
