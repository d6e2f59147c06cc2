"""A stateful property test of the lifecycle: random operations against a real database."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, delete

from tests.conftest import FakeClock
from tests.support.factories import ensure_tenant
from vodforge.db.tables import job_events, jobs, tenants, video_progress, videos
from vodforge.domain.states import ALLOWED_TRANSITIONS, TERMINAL_JOB_STATES, JobState
from vodforge.errors import Conflict
from vodforge.jobs.records import ClaimedJob
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.operations.deadletter import report_dead_letter

WORKERS = ["w1", "w2", "w3"]


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (job_events, jobs, videos, video_progress, tenants):
            conn.execute(delete(table))


def lifecycle_machine(engine: Engine) -> type[RuleBasedStateMachine]:
    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            wipe(engine)
            self.clock = FakeClock()
            self.repo = JobRepository(engine, lease_ttl_s=30, max_attempts=3, clock=self.clock)
            self.tenant = ensure_tenant(self.repo, "prop")
            self.video_ids: list[str] = []
            self.claims: list[ClaimedJob] = []
            self.latest: dict[str, ClaimedJob] = {}
            self.terminal_seen: dict[str, JobState] = {}

        @rule()
        def upload(self) -> None:
            # Distinct creation times keep claim order independent of random UUIDs, so
            # hypothesis can replay and shrink examples deterministically.
            self.clock.advance(0.001)
            video_id, _ = self.repo.create_video_and_job(
                self.tenant.id, "v", source_key="k", source_bytes=1
            )
            self.video_ids.append(video_id)

        @rule(worker=st.sampled_from(WORKERS))
        def claim(self, worker: str) -> None:
            job = self.repo.claim_job(worker)
            if job is not None:
                assert job.attempt <= job.max_attempts
                self.claims.append(job)
                self.latest[job.id] = job

        @precondition(lambda self: self.claims)
        @rule(data=st.data())
        def heartbeat(self, data: st.DataObject) -> None:
            job = data.draw(st.sampled_from(self.claims))
            result = self.repo.renew_lease(job)
            if self.latest.get(job.id) is not job:
                assert result is None, "a superseded lease holder must be fenced out"

        @precondition(lambda self: self.claims)
        @rule(data=st.data())
        def complete(self, data: st.DataObject) -> None:
            job = data.draw(st.sampled_from(self.claims))
            before = self.repo.get_job(job.id)
            state = self.repo.complete_job(job, {"prefix": f"{job.id}/{job.attempt}/"})
            if self.latest.get(job.id) is not job or before.state is not JobState.RUNNING:
                assert state is None

        def superseded(self) -> list[ClaimedJob]:
            return [job for job in self.claims if self.latest[job.id] is not job]

        @precondition(lambda self: self.superseded())
        @rule(data=st.data(), write=st.sampled_from(["renew", "complete", "fail", "release"]))
        def zombie_write(self, data: st.DataObject, write: str) -> None:
            """Any write by a holder whose lease was taken over is rejected and changes nothing."""
            zombie = data.draw(st.sampled_from(self.superseded()))
            before = self.repo.get_job(zombie.id)
            if write == "renew":
                result: object = self.repo.renew_lease(zombie)
            elif write == "complete":
                result = self.repo.complete_job(zombie, {"prefix": "zombie/"})
            elif write == "fail":
                result = self.repo.fail_job(zombie, Failure("X", "zombie", retryable=True))
            else:
                result = self.repo.release_job(zombie)
            assert result is None
            assert self.repo.get_job(zombie.id) == before

        @precondition(lambda self: self.claims)
        @rule(data=st.data(), retryable=st.booleans(), delay=st.sampled_from([0, 10, 60]))
        def fail(self, data: st.DataObject, retryable: bool, delay: int) -> None:
            job = data.draw(st.sampled_from(self.claims))
            failure = Failure("TRANSCODE_FAILED", "boom", retryable=retryable)
            self.repo.fail_job(job, failure, retry_delay_s=delay)

        @rule(seconds=st.sampled_from([1, 10, 31, 120]))
        def time_passes_and_scanner_runs(self, seconds: int) -> None:
            self.clock.advance(seconds)
            for lease in self.repo.expire_stale_leases("scanner"):
                assert lease.attempt_count <= lease.max_attempts

        @precondition(lambda self: self.video_ids)
        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            video_id = data.draw(st.sampled_from(self.video_ids))
            try:
                self.repo.cancel_video(video_id)
            except Conflict:
                pass

        @precondition(lambda self: self.claims)
        @rule(data=st.data())
        def worker_honours_cancel(self, data: st.DataObject) -> None:
            job = data.draw(st.sampled_from(self.claims))
            self.repo.finish_cancelled(job)

        @precondition(lambda self: self.video_ids)
        @rule(data=st.data())
        def dead_letter(self, data: st.DataObject) -> None:
            video_id = data.draw(st.sampled_from(self.video_ids))
            for job in self.repo.jobs_of_video(video_id):
                report_dead_letter(self.repo, job.id)

        @precondition(lambda self: self.video_ids)
        @rule(data=st.data())
        def user_retry(self, data: st.DataObject) -> None:
            video_id = data.draw(st.sampled_from(self.video_ids))
            self.clock.advance(0.001)
            try:
                self.repo.retry_video(video_id)
            except Conflict:
                pass

        @invariant()
        def lifecycle_holds(self) -> None:
            for video_id in self.video_ids:
                for job in self.repo.jobs_of_video(video_id):
                    assert job.attempt_count <= job.max_attempts
                    assert (job.state is JobState.RUNNING) == (job.lease_token is not None)
                    if job.state is JobState.RUNNING:
                        assert job.lease_token == self.latest[job.id].lease_token
                    # Terminal states are final.
                    seen = self.terminal_seen.get(job.id)
                    if seen is not None:
                        assert job.state is seen
                    elif job.state in TERMINAL_JOB_STATES:
                        self.terminal_seen[job.id] = job.state
                    events = self.repo.job_events(job.id)
                    for event in events:
                        if event.from_state != event.to_state:
                            assert (event.from_state, event.to_state) in ALLOWED_TRANSITIONS
                    assert events[-1].to_state is job.state
                    claims = sum(
                        e.to_state is JobState.RUNNING and e.from_state is not JobState.RUNNING
                        for e in events
                    )
                    releases = sum(
                        e.to_state is JobState.QUEUED and e.from_state is JobState.RUNNING
                        for e in events
                    )
                    assert job.attempt_count == claims - releases

    return Lifecycle


def test_lifecycle_properties(engine: Engine, database_url: str) -> None:
    examples = 150 if database_url.startswith("sqlite") else 50
    machine = lifecycle_machine(engine)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
