"""Local workers claim jobs themselves, so dispatching to them is only a nudge."""

from __future__ import annotations

from vodforge.db.wakeup import Wakeup
from vodforge.executors.base import Executor


class LocalExecutor(Executor):
    name = "local"
    tracks_dispatch = False

    def __init__(self, wakeup: Wakeup | None = None) -> None:
        self.wakeup = wakeup

    def dispatch(self, job_id: str) -> str | None:
        if self.wakeup is not None:
            self.wakeup.signal()
        return "local"

    def knows(self, executor_ref: str | None) -> bool | None:
        # Local workers pick up any claimable job: every QUEUED job is known to them.
        return True
