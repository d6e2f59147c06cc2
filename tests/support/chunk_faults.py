"""The real transcode work with one fault injected into a chunked video's family, for the
acceptance tests of chunked encoding (selected with VODFORGE_WORK=tests.support.chunk_faults:...).

VODFORGE_TEST_FAULT_CHUNK names the chunk index the fault hits (default 1).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from vodforge.domain.states import JobKind
from vodforge.errors import ErrorCode, InputRejected
from vodforge.pipeline.context import JobContext, Work, WorkDeps, WorkResult
from vodforge.pipeline.work import transcode_work


def _is_target(ctx: JobContext) -> bool:
    index = int(os.environ.get("VODFORGE_TEST_FAULT_CHUNK", "1"))
    return ctx.job.kind is JobKind.CHUNK and (ctx.job.spec or {}).get("index") == index


def rejecting_chunk_work(deps: WorkDeps) -> Work:
    """That chunk's source range cannot be decoded: a permanent failure (no retry)."""
    real = transcode_work(deps)

    def work(ctx: JobContext) -> WorkResult:
        if _is_target(ctx):
            raise InputRejected(
                "source cannot be decoded: injected by the test", code=ErrorCode.INVALID_INPUT
            )
        return real(ctx)

    work.published = real.published  # type: ignore[attr-defined]
    work.discarded = real.discarded  # type: ignore[attr-defined]
    return work


def marking_chunk_work(deps: WorkDeps) -> Work:
    """On its first attempt that chunk first writes this worker's pid to the file named by
    VODFORGE_TEST_MARKER (and waits a moment), so a test can SIGKILL the worker while it
    holds the chunk; every other run is the real work."""
    real = transcode_work(deps)
    marker = Path(os.environ["VODFORGE_TEST_MARKER"])

    def work(ctx: JobContext) -> WorkResult:
        if _is_target(ctx) and ctx.job.attempt == 1:
            marker.write_text(str(os.getpid()))
            time.sleep(2.0)
        return real(ctx)

    work.published = real.published  # type: ignore[attr-defined]
    work.discarded = real.discarded  # type: ignore[attr-defined]
    return work
