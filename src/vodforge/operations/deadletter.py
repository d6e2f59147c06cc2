"""An executor's dead-letter report for a job, answered per SPEC §2 by the job's state."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from vodforge.domain.deadletter import DeadLetterAction, decide_dead_letter
from vodforge.errors import NotFound
from vodforge.jobs.repository import JobRepository
from vodforge.logs import Event, log_event

log = logging.getLogger(__name__)

DEAD_LETTER_MESSAGE = "the executor gave up on this job (dead-letter report)"


def report_dead_letter(
    repo: JobRepository, job_id: str, actor: str = "dead-letter"
) -> dict[str, Any]:
    try:
        uuid.UUID(job_id)
    except ValueError:
        # Not an id at all (a NUL byte would even fail the query on PostgreSQL): no such job.
        raise NotFound(f"job {job_id[:80]!r} not found") from None
    for _ in range(3):
        job = repo.find_job(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        action = decide_dead_letter(job.state)
        if action is DeadLetterAction.ALREADY_TERMINAL:
            return {"ok": True, "skipped": "already_terminal", "state": job.state.value}
        if action is DeadLetterAction.RUNNING_ALERT_ONLY:
            # The lease scanner owns RUNNING jobs; a report here means the executor and the
            # lease disagree, which an operator should look at.
            log_event(
                log,
                Event.DLQ_RUNNING_ALERT,
                level=logging.WARNING,
                job_id=job_id,
                state=job.state.value,
                leased_by=job.leased_by,
            )
            return {"ok": True, "skipped": "running_alert_only", "state": job.state.value}
        state = repo.mark_dead(job_id, DEAD_LETTER_MESSAGE, actor)
        if state is not None:
            return {"ok": True, "marked": "DEAD", "state": state.value}
        # The job moved between our read and our write: decide again on its new state.
    job = repo.get_job(job_id)
    return {"ok": False, "error": "state kept changing", "state": job.state.value}
