"""Prometheus metrics of the fleet's work, read from the database at scrape time: job attempt
durations, transcode speed (× realtime), lease recoveries, jobs failing dispatch, and webhook
deliveries.

Why at scrape time and not in the workers: in a fleet the work happens in `vodforge worker`
processes and in `run-job` containers on Batch that live for one job and cannot be scraped;
every one of them writes job_events, so any API process can count the whole fleet's work.
Every API replica therefore reports the same fleet-wide numbers: aggregate them across
replicas with max(), not sum() (or scrape one replica), as for the job gauges.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vodforge.bootstrap import Components
from vodforge.domain.states import ALLOWED_TRANSITIONS, JobState
from vodforge.operations.job_history import AttemptFeed, jobs_failing_dispatch

# From a short clip to a feature film on a slow machine.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 21600)
# Below 1 is slower than realtime: the ladder takes longer to make than to watch.
SPEED_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
# Every state an attempt can end in, and those the scanner gives an expired lease: their
# series exist from the first scrape, so a rate() or an alert never starts from nothing.
ATTEMPT_ENDS = sorted(
    to.value for start, to in ALLOWED_TRANSITIONS if start is JobState.RUNNING and to != start
)
RECOVERY_ENDS = (JobState.RETRY_WAIT.value, JobState.DEAD.value, JobState.CANCELLED.value)


class FleetMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "vodforge_job_duration_seconds",
            "How long job attempts ran, from claim to end, by the state they ended in",
            ["state"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.speed = Histogram(
            "vodforge_transcode_speed_ratio",
            "Media seconds made ready per wall-clock second of a successful attempt "
            "(× realtime: probe, encode of the whole ladder, validation and upload)",
            buckets=SPEED_BUCKETS,
            registry=registry,
        )
        self.lease_recoveries = Counter(
            "vodforge_lease_recoveries",
            "RUNNING jobs whose lease expired and the scanner took back, by the state it gave",
            ["state"],
            registry=registry,
        )
        self.failing_dispatch = Gauge(
            "vodforge_dispatch_failing_jobs",
            "Waiting jobs whose last hand-over to the executor failed (retried with backoff)",
            registry=registry,
        )
        # Gauges, not counters: delivery rows are pruned after their retention period.
        self.webhook_events = Gauge(
            "vodforge_webhook_events",
            "Webhook events by delivery state (PENDING, DELIVERED, FAILED after 24 h of retries)",
            ["state"],
            registry=registry,
        )
        self.webhook_attempts = Gauge(
            "vodforge_webhook_attempts",
            "Webhook delivery attempts in the delivery log",
            registry=registry,
        )
        self.webhook_failed_attempts = Gauge(
            "vodforge_webhook_failed_attempts",
            "Webhook delivery attempts that got no 2xx (an error, a timeout or another status)",
            registry=registry,
        )
        for end in ATTEMPT_ENDS:
            self.duration.labels(end)
        for end in RECOVERY_ENDS:
            self.lease_recoveries.labels(end)
        self._feed: AttemptFeed | None = None

    def refresh(self, components: Components) -> None:
        if self._feed is None:
            self._feed = AttemptFeed(components.engine)
        for attempt in self._feed.read():
            if attempt.ran_s is not None:
                self.duration.labels(attempt.ended_as.value).observe(attempt.ran_s)
            if attempt.speed is not None:
                self.speed.observe(attempt.speed)
            if attempt.lease_recovered:
                self.lease_recoveries.labels(attempt.ended_as.value).inc()
        self.failing_dispatch.set(jobs_failing_dispatch(components.engine))
        webhooks = components.webhooks.counts()
        self.webhook_events.labels("PENDING").set(webhooks.pending)
        self.webhook_events.labels("DELIVERED").set(webhooks.delivered)
        self.webhook_events.labels("FAILED").set(webhooks.failed)
        self.webhook_attempts.set(webhooks.attempts)
        self.webhook_failed_attempts.set(webhooks.failed_attempts)
