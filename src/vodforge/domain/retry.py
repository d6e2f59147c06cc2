"""Retry decisions: exponential backoff with jitter, and when attempts are exhausted."""

from __future__ import annotations

import random
from dataclasses import dataclass

from vodforge.domain.states import JobState


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 10.0
    cap_s: float = 600.0
    jitter: float = 0.20

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Backoff after failed attempt number `attempt` (1-based): base × 2^(attempt-1) ± 20 %,
        capped. Jitter spreads retries of a burst of failures so they do not return together."""
        raw = self.base_s * 2 ** max(attempt - 1, 0)
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return float(min(raw * (1 + spread), self.cap_s))


def state_after_failure(attempt_count: int, max_attempts: int) -> JobState:
    """A retryable failure (or an expired lease) ends the job once attempts are used up."""
    return JobState.DEAD if attempt_count >= max_attempts else JobState.RETRY_WAIT
