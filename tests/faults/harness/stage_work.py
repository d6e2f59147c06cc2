"""The real transcode work, with a pause point at each stage so a test can SIGKILL a worker
exactly there (validation and publishing last milliseconds: no poll would catch them).

Selected with VODFORGE_WORK=tests.faults.harness.stage_work:stage_work and
VODFORGE_FAULT_CONTROL=<dir>. The test drops a file `pause-<stage>` in that directory; the
first worker to reach the stage renames it to `paused-<stage>-<pid>` (so exactly one worker
takes it) and sleeps there until it is killed. Stages: `probe`, `validate`, `upload` (the
pipeline's own progress stages), `publish` (the package is built and about to be published)
and `stitch` (a family's stitch has copied its parts and is about to publish). Without a pause
file the work is exactly the production work."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import vodforge.pipeline.work as work_module
from vodforge.domain.states import JobKind
from vodforge.jobs.records import ClaimedJob
from vodforge.pipeline.context import JobContext, WorkDeps, WorkResult
from vodforge.pipeline.progress import ProgressReporter
from vodforge.pipeline.work import TranscodeWork, transcode_work

# Long enough for any test to see the marker and kill; a pause nobody acts on ends by itself.
PAUSE_S = 120.0


def pause_if_asked(stage: str) -> None:
    control = os.environ.get("VODFORGE_FAULT_CONTROL")
    if not control:
        return
    request = Path(control) / f"pause-{stage}"
    taken = Path(control) / f"paused-{stage}-{os.getpid()}"
    try:
        request.rename(taken)  # atomic: one worker wins the request
    except OSError:
        return
    deadline = time.monotonic() + PAUSE_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        taken.unlink()


class PausingReporter(ProgressReporter):
    def enter(self, stage: str, percent: float = 0.0) -> None:
        super().enter(stage, percent)
        pause_if_asked(stage)


class StageWork:
    def __init__(self, inner: TranscodeWork) -> None:
        self.inner = inner

    def __call__(self, ctx: JobContext) -> WorkResult:
        result = self.inner(ctx)
        if result.package is not None:
            pause_if_asked("stitch" if ctx.job.kind is JobKind.STITCH else "publish")
        return result

    def published(self, job: ClaimedJob, package: dict[str, Any]) -> None:
        self.inner.published(job, package)

    def discarded(self, job: ClaimedJob, package: dict[str, Any]) -> None:
        self.inner.discarded(job, package)


def stage_work(deps: WorkDeps) -> StageWork:
    # The pipeline reports its stages through ProgressReporter; swapping the class it uses
    # (in this worker process only) puts a pause point at every stage boundary.
    work_module.ProgressReporter = PausingReporter  # type: ignore[attr-defined]
    return StageWork(transcode_work(deps))
