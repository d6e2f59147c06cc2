"""The executor interface: hand a job id to something that will run it."""

from __future__ import annotations

from abc import ABC, abstractmethod


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
