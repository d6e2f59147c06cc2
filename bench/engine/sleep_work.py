"""A job work that runs a real child process: `sleep 30` on attempt 1, a short sleep after.

The crash-recovery benchmark SIGKILLs the worker during attempt 1; the attempt that takes
over finishes quickly. VODFORGE_WORK=bench.engine.sleep_work:sleep_work
"""

from __future__ import annotations

from vodforge.pipeline.context import JobContext, Work, WorkDeps, WorkResult
from vodforge.process import run_child

FIRST_ATTEMPT_SLEEP = "30"
LATER_ATTEMPT_SLEEP = "0.2"


def sleep_work(deps: WorkDeps | None) -> Work:
    def run(ctx: JobContext) -> WorkResult:
        seconds = FIRST_ATTEMPT_SLEEP if ctx.job.attempt == 1 else LATER_ATTEMPT_SLEEP
        child = run_child(["sleep", seconds], stop=ctx.stop)
        return WorkResult(
            package={
                "prefix": f"sleep/{ctx.job.id}/{ctx.job.attempt}/",
                "slept_s": round(child.wall_s, 3),
            }
        )

    return run
