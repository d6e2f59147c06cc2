"""Transitions of a chunked video's family of jobs: the split into children, a child's
recorded output, the stitch that publishes, and what follows any child's ending.

Part of the one writer of job state (JobRepository). The rules are domain.family's; here
they are applied under the parent's row lock (`lock_family`), which every family write takes
first, so concurrent children are decided one after the other and lock order is always
parent, then child (no deadlock with a cancel, which takes the same order).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from vodforge.db.tables import jobs
from vodforge.domain.family import ChildView, decide_family
from vodforge.domain.states import JobKind, JobState
from vodforge.errors import ErrorCode
from vodforge.jobs.core import Failure, RepositoryCore
from vodforge.jobs.records import ClaimedJob, JobRecord

FAMILY_ACTOR = "family"


@dataclass(frozen=True)
class NewChild:
    """A child job the parent's split creates: its kind, what it does, why (its history)."""

    kind: JobKind
    spec: dict[str, Any] = field(default_factory=dict)
    reason: str = "split"


class _NotPublished(Exception):
    """Rolls back a stitch's completion whose parent no longer waits for it."""


class FamilyTransitions(RepositoryCore):
    # -- the parent ---------------------------------------------------------------------------

    def split_job(self, job: ClaimedJob, children: Sequence[NewChild]) -> bool:
        """Hand the running job's work to these children, in one transaction: the parent
        keeps RUNNING without a lease and the children are QUEUED. False if fenced out (or a
        cancel arrived first, which the caller's stop handling then finishes)."""
        if not children:
            raise ValueError("a split needs at least one child")
        now = self.clock()
        with self._write() as conn:
            rows = self._run(
                conn,
                "split_job",
                now=now,
                job_id=job.id,
                token=job.lease_token,
                worker=job.worker_id,
                reason=f"split into {len(children)} jobs",
            )
            if not rows:
                return False
            for order, child in enumerate(children):
                # created_at breaks claim-order ties within a priority, so the family is
                # claimed in the order given (chunks from the start) instead of by random id.
                self._insert_child(
                    conn,
                    job,
                    child,
                    priority=rows[0]["priority"],
                    max_attempts=rows[0]["max_attempts"],
                    created_at=now + order * 1e-6,
                )
            self._notify_claimable(conn)
        self.wakeup.signal()
        return True

    def _insert_child(
        self,
        conn: Connection,
        parent: ClaimedJob | Mapping[str, Any],
        child: NewChild,
        *,
        priority: int,
        max_attempts: int,
        created_at: float,
    ) -> str:
        if isinstance(parent, ClaimedJob):
            parent_id, video_id, tenant_id = parent.id, parent.video_id, parent.tenant_id
        else:
            parent_id, video_id, tenant_id = parent["id"], parent["video_id"], parent["tenant_id"]
        child_id = str(uuid.uuid4())
        conn.execute(
            insert(jobs).values(
                id=child_id,
                video_id=video_id,
                tenant_id=tenant_id,
                parent_id=parent_id,
                kind=child.kind.value,
                spec=json.dumps(child.spec),
                state=JobState.QUEUED.value,
                priority=priority,
                attempt_count=0,
                max_attempts=max_attempts,
                cancel_requested=False,
                run_after=created_at,
                created_at=created_at,
                updated_at=created_at,
                transition_reason=child.reason,
            )
        )
        return child_id

    # -- the children -------------------------------------------------------------------------

    def complete_part(self, job: ClaimedJob, output: dict[str, Any]) -> JobState | None:
        """A chunk or the audio SUCCEEDED with its output manifest (CANCELLED if a cancel
        came first), then the family decides what follows. None if fenced out."""
        assert job.parent_id is not None, "only a family's child has a part to complete"
        with self._write() as conn:
            self._run(conn, "lock_family", parent_id=job.parent_id)
            rows = self._run(
                conn,
                "complete_part",
                now=self.clock(),
                job_id=job.id,
                token=job.lease_token,
                worker=job.worker_id,
                result=json.dumps(output),
            )
            if not rows:
                return None
            state = JobState(rows[0]["state"])
            started_stitch = self._advance(conn, job.parent_id)
        if started_stitch:
            self.wakeup.signal()
        return state

    def publish_family(self, job: ClaimedJob, package: dict[str, Any]) -> JobState | None:
        """The stitch SUCCEEDED, its parent SUCCEEDED and the video READY with the package,
        in one transaction. CANCELLED if a cancel came first; None if fenced out."""
        assert job.parent_id is not None and job.kind is JobKind.STITCH
        now = self.clock()
        try:
            with self._write() as conn:
                locked = self._run(conn, "lock_family", parent_id=job.parent_id)
                if locked and locked[0]["cancel_requested"]:
                    # A cancel accepted before the result wins, as for a plain job, even when
                    # the decision passing it on to the children has not run yet: run it now.
                    self._advance(conn, job.parent_id)
                rows = self._run(
                    conn,
                    "complete_part",
                    now=now,
                    job_id=job.id,
                    token=job.lease_token,
                    worker=job.worker_id,
                    result=json.dumps({"prefix": package.get("prefix")}),
                )
                if not rows:
                    return None
                state = JobState(rows[0]["state"])
                if state is JobState.SUCCEEDED:
                    ended = self._run(
                        conn,
                        "end_family",
                        parent_id=job.parent_id,
                        state=JobState.SUCCEEDED.value,
                        now=now,
                        code=None,
                        message=None,
                        reason="completed: stitched and published",
                        actor=job.worker_id,
                    )
                    if not ended:
                        raise _NotPublished
                    self._settle_video(
                        conn, job.video_id, job.parent_id, JobState.SUCCEEDED, package=package
                    )
                else:
                    self._advance(conn, job.parent_id)
        except _NotPublished:
            return None
        return state

    def family_parts(self, parent_id: str) -> list[JobRecord]:
        """Every child of the parent, in the order they were created."""
        with self._read() as conn:
            rows = conn.execute(
                select(jobs)
                .where(jobs.c.parent_id == parent_id)
                .order_by(jobs.c.created_at, jobs.c.id)
            ).mappings()
            return [JobRecord.from_row(row) for row in rows]

    # -- deciding what follows ------------------------------------------------------------------

    def advance_family(self, parent_id: str | None) -> None:
        """Apply the family rules after a child changed (or on the scheduler's sweep): cancel
        the live children of a failed or cancelled family, end the parent once none is
        live, start the stitch when every part succeeded. Idempotent; a no-op for a job
        that is not a waiting parent."""
        if parent_id is None:
            return
        with self._write() as conn:
            started_stitch = self._advance(conn, parent_id)
        if started_stitch:
            self.wakeup.signal()

    def waiting_families(self, batch: int = 200) -> list[str]:
        """Parents waiting on their children, oldest change first (the scheduler's sweep)."""
        with self._read() as conn:
            return [row["id"] for row in self._run(conn, "waiting_families", batch=batch)]

    def _advance(self, conn: Connection, parent_id: str) -> bool:
        """One decision under the parent's lock; True when it started the stitch."""
        locked = self._run(conn, "lock_family", parent_id=parent_id)
        if not locked:
            return False
        parent = locked[0]
        if parent["state"] != JobState.RUNNING.value or parent["lease_token"] is not None:
            return False
        # Cancelling waiting children ends them at once, so decide again after doing it.
        for _ in range(2):
            children = self._children(conn, parent_id)
            decision = decide_family(bool(parent["cancel_requested"]), list(children.values()))
            for child_id in decision.cancel:
                self._run(conn, "cancel_job", now=self.clock(), job_id=child_id, actor=FAMILY_ACTOR)
            if not decision.cancel:
                break
        if decision.start_stitch:
            self._insert_child(
                conn,
                parent,
                NewChild(JobKind.STITCH, reason="every part succeeded: stitch"),
                priority=parent["priority"],
                max_attempts=parent["max_attempts"],
                created_at=self.clock(),
            )
            self._notify_claimable(conn)
            return True
        if decision.end_state is not None:
            cause = decision.cause
            failure = self._family_failure(conn, decision.end_state, cause)
            ended = self._run(
                conn,
                "end_family",
                parent_id=parent_id,
                state=decision.end_state.value,
                now=self.clock(),
                code=failure.code if failure else None,
                message=failure.message if failure else None,
                reason=_end_reason(decision.end_state, cause),
                actor=FAMILY_ACTOR,
            )
            if ended:
                self._settle_video(
                    conn, parent["video_id"], parent_id, decision.end_state, failure=failure
                )
        return False

    def _children(self, conn: Connection, parent_id: str) -> dict[str, ChildView]:
        rows = conn.execute(
            select(
                jobs.c.id, jobs.c.kind, jobs.c.state, jobs.c.cancel_requested, jobs.c.finished_at
            ).where(jobs.c.parent_id == parent_id)
        ).mappings()
        return {
            row["id"]: ChildView(
                id=row["id"],
                kind=JobKind(row["kind"]),
                state=JobState(row["state"]),
                cancel_requested=bool(row["cancel_requested"]),
                finished_at=row["finished_at"],
            )
            for row in rows
        }

    def _family_failure(
        self, conn: Connection, state: JobState, cause: ChildView | None
    ) -> Failure | None:
        """The reason a failed family gives its video: the failed child's, naming the child."""
        if state not in (JobState.FAILED, JobState.DEAD) or cause is None:
            return None
        row = (
            conn.execute(
                select(
                    jobs.c.spec,
                    jobs.c.max_attempts,
                    jobs.c.last_error_code,
                    jobs.c.last_error_message,
                ).where(jobs.c.id == cause.id)
            )
            .mappings()
            .one()
        )
        part = _part_name(cause.kind, json.loads(row["spec"]) if row["spec"] else {})
        code = row["last_error_code"] or ErrorCode.INTERNAL_ERROR.value
        message = row["last_error_message"] or f"{part} ended {state.value}"
        if state is JobState.DEAD and code != ErrorCode.DEAD_LETTERED.value:
            return Failure(
                ErrorCode.ATTEMPTS_EXHAUSTED.value,
                f"{part} gave up after {row['max_attempts']} attempts; last error "
                f"{code}: {message}",
                retryable=False,
            )
        return Failure(code, f"{part}: {message}", retryable=False)


def _part_name(kind: JobKind, spec: Mapping[str, Any]) -> str:
    if kind is JobKind.CHUNK and "index" in spec:
        return f"chunk {spec['index']} ({spec.get('start_s', 0):g}-{spec.get('end_s', 0):g} s)"
    return f"the {kind.value} job"


def _end_reason(state: JobState, cause: ChildView | None) -> str:
    if state is JobState.CANCELLED:
        return "cancelled: every child stopped"
    if cause is None:
        return state.value.lower()
    return f"child {cause.kind.value} {cause.id} ended {cause.state.value}"
