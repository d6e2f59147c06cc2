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
    # Scale to zero only after the system has been idle this long.
    scale_to_zero_after_s: float = 600.0


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


def decide_workers(
    *,
    backlog: int,
    running: int,
    busy_workers: int,
    idle_for_s: float | None,
    policy: ScalingPolicy,
) -> ScalingDecision:
    """`idle_for_s`: seconds since the last job activity (None: no job ever ran)."""

    def decision(desired: int, reason: str) -> ScalingDecision:
        return ScalingDecision(backlog, running, busy_workers, desired, reason)

    needed = math.ceil((backlog + running) / max(1, policy.jobs_per_worker))
    desired = min(max(needed, policy.min_workers), policy.max_workers)
    reason = f"backlog {backlog} + running {running} at {policy.jobs_per_worker} per worker"
    if desired < busy_workers:
        # Never take a machine away from a job that is running on it.
        return decision(busy_workers, f"{reason}; kept {busy_workers} busy worker(s)")
    if needed == 0 and policy.min_workers == 0:
        if idle_for_s is not None and idle_for_s < policy.scale_to_zero_after_s:
            return decision(
                max(1, desired),
                f"idle for {idle_for_s:.0f} s; scale to zero after "
                f"{policy.scale_to_zero_after_s:.0f} s",
            )
        return decision(0, "no backlog and nothing running: scale to zero")
    if needed > policy.max_workers:
        reason += f"; capped at max {policy.max_workers}"
    elif needed < policy.min_workers:
        reason += f"; raised to min {policy.min_workers}"
    return decision(desired, reason)
