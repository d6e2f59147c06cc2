"""Runs a split video's children in this process, one after the other, until the family
ends: what `vodforge transcode` does when its source was long enough to chunk."""

from __future__ import annotations

import time

from vodforge.domain.states import CLAIMABLE_JOB_STATES
from vodforge.jobs.repository import JobRepository
from vodforge.process import StopToken
from vodforge.worker.runner import JobRunner, Outcome

POLL_S = 0.2


def run_family(
    repo: JobRepository, runner: JobRunner, parent_id: str, stop: StopToken, worker_id: str
) -> Outcome:
    """Claim and run the family's due children in their order (each ffmpeg already uses
    every core) until the parent ends; the parent's end is the outcome. Other workers may
    take children too: then this one waits for them."""
    last: Outcome | None = None
    while True:
        parent = repo.get_job(parent_id)
        if parent.state.is_terminal:
            return Outcome(state=parent.state, failure=last.failure if last else None)
        claimed = None
        now = repo.clock()
        for child in repo.family_parts(parent_id):
            if child.state in CLAIMABLE_JOB_STATES and (child.run_after or 0.0) <= now:
                claimed = repo.claim_job_by_id(child.id, worker_id)
                if claimed is not None:
                    break
        if claimed is None:
            # A retry's backoff, or a child another worker holds: look again shortly.
            time.sleep(POLL_S)
            continue
        last = runner.run(claimed, stop)
