"""A job work that does nothing, so a benchmark measures the engine rather than media."""

from __future__ import annotations

from vodforge.pipeline.context import JobContext, Work, WorkDeps, WorkResult


def noop_work(deps: WorkDeps | None) -> Work:
    """VODFORGE_WORK=bench.engine.noop_work:noop_work"""

    def run(ctx: JobContext) -> WorkResult:
        return WorkResult(package={"prefix": "noop/"})

    return run
