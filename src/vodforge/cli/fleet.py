"""The scheduler's fleet-wide upkeep, wired from settings: the services' housekeeping, the
storage sweep of unowned attempts, and (when a namespace is set) the CloudWatch scaling metric.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from vodforge.bootstrap import Components
from vodforge.operations.scaling import ScalingPublisher
from vodforge.operations.sweep import AttemptSweep

log = logging.getLogger(__name__)


def scheduler_housekeeping(components: Components) -> Callable[[], list[str]]:
    """One callable for Scheduler(housekeeping=...): each step runs every tick (the sweep and
    the publisher pace themselves), and one failing never keeps the others from running."""
    settings = components.settings
    sweep = AttemptSweep(
        components.engine,
        components.storage,
        grace_s=settings.sweep_grace_s,
        every_s=settings.sweep_every_s,
    )
    steps: list[Callable[[], object]] = [components.housekeeping, sweep.maybe_sweep]
    if settings.cloudwatch_namespace:
        from vodforge.telemetry.cloudwatch import CloudWatchMetrics

        publisher = ScalingPublisher(
            components.repo,
            components.scaling_policy,
            CloudWatchMetrics(settings.cloudwatch_namespace),
        )
        steps.append(publisher.maybe_publish)

    def housekeeping() -> list[str]:
        done: list[str] = []
        for step in steps:
            try:
                result = step()
            except Exception:
                name = getattr(step, "__qualname__", step)
                log.exception("scheduler upkeep step %s failed", name)
                continue
            if isinstance(result, list):
                done.extend(str(item) for item in result)
        return done

    return housekeeping
