"""An in-memory executor for tests: records dispatches and can be told to fail."""

from __future__ import annotations

import itertools

from vodforge.executors.base import Executor, ExecutorStatus


class InMemoryExecutor(Executor):
    name = "memory"

    def __init__(self) -> None:
        self.dispatched: list[str] = []
        self.fail_next = 0
        self.forgotten: set[str] = set()
        self.terminated: list[tuple[str, str]] = []
        self._refs = itertools.count(1)

    def dispatch(self, job_id: str) -> str | None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RuntimeError("executor unavailable (injected)")
        self.dispatched.append(job_id)
        return f"mem-{next(self._refs)}"

    def knows(self, executor_ref: str | None) -> bool | None:
        return executor_ref is not None and executor_ref not in self.forgotten

    def status(self, executor_ref: str | None) -> ExecutorStatus | None:
        if executor_ref is None:
            return None
        if any(ref == executor_ref for ref, _ in self.terminated):
            return ExecutorStatus("TERMINATED")
        return ExecutorStatus("FORGOTTEN" if executor_ref in self.forgotten else "LIVE")

    def terminate(self, executor_ref: str, reason: str) -> bool:
        self.terminated.append((executor_ref, reason))
        return True
