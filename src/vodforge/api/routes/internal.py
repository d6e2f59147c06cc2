"""`/internal/v1`: the executor's and autoscaler's calls, behind the internal token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vodforge.api.deps import ComponentsDep, InternalDep
from vodforge.api.schemas import ERROR_RESPONSES, BacklogOut, DeadLetterOut, ScalingOut
from vodforge.operations.deadletter import report_dead_letter
from vodforge.operations.scaling import scaling_signal

router = APIRouter(prefix="/internal/v1", tags=["internal"], responses=ERROR_RESPONSES)


@router.get("/backlog", response_model=BacklogOut)
def backlog(components: ComponentsDep, _: InternalDep) -> dict[str, int]:
    """QUEUED + RETRY_WAIT (the backlog), and RUNNING."""
    return components.repo.backlog().to_json()


@router.get("/scaling", response_model=ScalingOut)
def scaling(components: ComponentsDep, _: InternalDep) -> dict[str, Any]:
    """How many workers the fleet should have, and why."""
    return scaling_signal(components.repo, components.scaling_policy).to_json()


@router.post("/jobs/{job_id}/dead-letter", response_model=DeadLetterOut)
def dead_letter(job_id: str, components: ComponentsDep, _: InternalDep) -> dict[str, Any]:
    """An executor gave up on this job; answered per SPEC §2 by the job's state."""
    return report_dead_letter(components.repo, job_id, actor="api")
