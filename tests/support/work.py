"""Job work for engine tests: a real child process instead of ffmpeg.

Selected with VODFORGE_WORK=tests.support.work:sleepy_work. The child sleeps
VODFORGE_TEST_SLEEP_S seconds (default 30) on the first attempt and 0.2 s after that, so a
test can kill a worker mid-job and watch another one finish the job quickly.
"""

from __future__ import annotations

import os
import sys

from vodforge.errors import RetryableError
from vodforge.pipeline.context import JobContext, Work, WorkDeps, WorkResult
from vodforge.process import run_child


def sleepy_work(deps: WorkDeps) -> Work:
    first_attempt_s = float(os.environ.get("VODFORGE_TEST_SLEEP_S", "30"))

    def work(ctx: JobContext) -> WorkResult:
        seconds = first_attempt_s if ctx.job.attempt == 1 else 0.2
        # A Python child that sleeps: a real process group the worker must stop on request.
        code = f"import time; time.sleep({seconds})"
        result = run_child([sys.executable, "-c", code], stop=ctx.stop)
        if result.returncode != 0 and not result.stopped:
            raise RetryableError(f"child exited {result.returncode}")
        return WorkResult(package={"prefix": f"videos/{ctx.job.video_id}/attempts/x/"})

    return work
