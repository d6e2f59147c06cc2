"""The executor interface: hand a job id to something that will run it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExecutorStatus:
    """What the executor itself says about one dispatched run (e.g. a Batch job)."""

    status: str
    reason: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "exit_code": self.exit_code,
        }


class Executor(ABC):
    name: str = "executor"
    # Executors that start something per job (Batch) need each job handed over and tracked;
    # local workers claim whatever is claimable, so there is nothing to hand over.
    tracks_dispatch: bool = True

    @abstractmethod
    def dispatch(self, job_id: str) -> str | None:
        """Ask the executor to run the job; returns its reference (e.g. a Batch job id).

        Raising means the dispatch failed: the job stays QUEUED and is dispatched again.
        Dispatching a job twice is harmless: only one run can claim it.
        """

    def knows(self, executor_ref: str | None) -> bool | None:
        """Whether the executor still has the job pending or running (None: cannot tell)."""
        return None

    def describe(self, executor_ref: str | None) -> str | None:
        """A human reason why a dispatched job has not started, when the executor has one."""
        return None

    def status(self, executor_ref: str | None) -> ExecutorStatus | None:
        """The executor's own view of a run, for operators (None: it keeps none)."""
        return None

    def statuses(self, executor_refs: list[str]) -> dict[str, ExecutorStatus]:
        """`status` of many runs at once (executors with a batch call override this)."""
        found = {ref: self.status(ref) for ref in executor_refs}
        return {ref: status for ref, status in found.items() if status is not None}

    def terminate(self, executor_ref: str, reason: str) -> bool:
        """Stop a run from outside, for a worker that does not stop on its own (a cancel it
        never acted on). Returns whether the executor was asked; local workers are stopped
        through their heartbeat only, so the default asks nothing."""
        return False
