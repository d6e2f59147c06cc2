"""What a dead-letter report from an executor does, by the job's current state (SPEC §2)."""

from __future__ import annotations

from enum import StrEnum

from vodforge.domain.states import JobState


class DeadLetterAction(StrEnum):
    ALREADY_TERMINAL = "already_terminal"
    RUNNING_ALERT_ONLY = "running_alert_only"
    MARK_DEAD = "mark_dead"


def decide_dead_letter(state: JobState) -> DeadLetterAction:
    """RUNNING belongs to the lease scanner, so the report only raises an alert there.

    SPEC §2 says "anything else → mark DEAD"; FAILED and CANCELLED are terminal states too,
    and terminal states are final, so they answer already_terminal like SUCCEEDED and DEAD.
    """
    if state.is_terminal:
        return DeadLetterAction.ALREADY_TERMINAL
    if state is JobState.RUNNING:
        return DeadLetterAction.RUNNING_ALERT_ONLY
    return DeadLetterAction.MARK_DEAD
