"""Job work for the Batch tests: a job that ignores every stop request.

Selected with VODFORGE_WORK=tests.support.batch_work:stubborn_work. It stands for a worker
whose job code hangs where no stop reaches it (a stuck upload, a wedged library call): its
heartbeat thread still renews the lease, so a cancel stays unanswered and only the executor
can end the run (terminate_job, then the container is killed).
"""

from __future__ import annotations

import time

from vodforge.pipeline.context import JobContext, Work, WorkDeps, WorkResult


def stubborn_work(deps: WorkDeps) -> Work:
    def work(ctx: JobContext) -> WorkResult:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            time.sleep(0.1)  # ctx.stop is never looked at: that is the point
        return WorkResult(package={"prefix": f"videos/{ctx.job.video_id}/attempts/x/"})

    return work
