"""The webhook outbox tables: claim due events, record attempts, page the delivery log.

Events are inserted by the videos triggers (migration 0004), never here; this module moves
them through PENDING -> DELIVERED | FAILED. A claim is one conditional UPDATE that takes the
event for a lease (next_attempt_at moves to the lease's end and a new claim token is set), so
two deliverers never send the same attempt at once, and an attempt that dies mid-way leaves
the event due again when the lease ends; every write of the attempt's result is fenced by
the token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, literal, select, update

from vodforge.db.access import reading, writing
from vodforge.db.tables import webhook_attempts, webhook_events
from vodforge.errors import Conflict, NotFound
from vodforge.webhooks.records import (
    Attempt,
    ClaimedEvent,
    DeliveryState,
    WebhookCounts,
    WebhookEvent,
)

PENDING = DeliveryState.PENDING.value
DONE = (DeliveryState.DELIVERED.value, DeliveryState.FAILED.value)


class WebhookRepository:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    # -- the deliverer ----------------------------------------------------------------------

    def claim_due(self, *, lease_s: float, retry_window_s: float) -> ClaimedEvent | None:
        """Take the oldest due PENDING event for one attempt, or None when nothing is due.

        The attempt is counted here, before anything is sent, so an attempt whose process
        dies still counts. retry_until is fixed at the first claim from occurred_at.
        """
        now = self.clock()
        token = str(uuid.uuid4())
        due = (
            select(webhook_events.c.seq)
            .where(webhook_events.c.state == PENDING, webhook_events.c.next_attempt_at <= now)
            .order_by(webhook_events.c.next_attempt_at, webhook_events.c.seq)
            .limit(1)
        )
        if self.engine.dialect.name == "postgresql":
            # Concurrent claimers skip a row another one is taking instead of queueing on it;
            # the outer WHERE re-checks the row once it is locked.
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(webhook_events)
            .where(
                webhook_events.c.seq == due.scalar_subquery(),
                webhook_events.c.state == PENDING,
                webhook_events.c.next_attempt_at <= now,
            )
            .values(
                claim_token=token,
                next_attempt_at=now + lease_s,
                attempts=webhook_events.c.attempts + 1,
                retry_until=func.coalesce(
                    webhook_events.c.retry_until, webhook_events.c.occurred_at + retry_window_s
                ),
                updated_at=now,
            )
            .returning(*webhook_events.c)
        )
        with writing(self.engine) as conn:
            row = conn.execute(statement).mappings().first()
        if row is None:
            return None
        return ClaimedEvent(WebhookEvent.from_row(row), token, now + lease_s)

    def has_due(self) -> bool:
        with reading(self.engine) as conn:
            row = conn.execute(
                select(webhook_events.c.seq)
                .where(
                    webhook_events.c.state == PENDING,
                    webhook_events.c.next_attempt_at <= self.clock(),
                )
                .limit(1)
            ).first()
        return row is not None

    def store_payload(self, claim: ClaimedEvent, payload: str) -> str | None:
        """Keep the body composed for the first attempt, so every retry sends these bytes.
        Returns the body to send: this one, or one stored before; None if the claim is lost."""
        with writing(self.engine) as conn:
            conn.execute(
                update(webhook_events)
                .where(
                    webhook_events.c.id == claim.event.id,
                    webhook_events.c.claim_token == claim.token,
                    webhook_events.c.payload.is_(None),
                )
                .values(payload=payload)
            )
            return conn.execute(
                select(webhook_events.c.payload).where(
                    webhook_events.c.id == claim.event.id,
                    webhook_events.c.claim_token == claim.token,
                )
            ).scalar_one_or_none()

    def record_outcome(
        self,
        claim: ClaimedEvent,
        attempt: Attempt,
        state: DeliveryState,
        next_attempt_at: float | None = None,
    ) -> bool:
        """Log the attempt and move the event on (DELIVERED, FAILED, or PENDING again at
        next_attempt_at), in one transaction. False when the claim was lost (its lease ran out
        and another attempt took the event): the log keeps the attempt, the event is theirs."""
        values: dict[str, Any] = {
            "state": state.value,
            "claim_token": None,
            "last_status": attempt.status_code,
            "last_error": attempt.error,
            "updated_at": self.clock(),
        }
        if state is DeliveryState.DELIVERED:
            values["delivered_at"] = attempt.at
        if state is DeliveryState.PENDING:
            assert next_attempt_at is not None
            values["next_attempt_at"] = next_attempt_at
        with writing(self.engine) as conn:
            self._log_attempt(conn, claim.event.id, attempt)
            won = conn.execute(
                update(webhook_events)
                .where(
                    webhook_events.c.id == claim.event.id,
                    webhook_events.c.claim_token == claim.token,
                    webhook_events.c.state == PENDING,
                )
                .values(**values)
            ).rowcount
        return bool(won)

    def _log_attempt(self, conn: Connection, event_id: str, attempt: Attempt) -> None:
        conn.execute(
            insert(webhook_attempts).values(
                event_id=event_id,
                at=attempt.at,
                url=attempt.url,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_s=attempt.duration_s,
            )
        )

    def prune(self, before: float, batch: int = 1000) -> int:
        """Forget delivered and failed events (and their attempts) last touched before
        `before`; the outbox would otherwise grow with every video forever."""
        old = (
            select(webhook_events.c.id)
            .where(webhook_events.c.state.in_(DONE), webhook_events.c.updated_at < before)
            .limit(batch)
        )
        with writing(self.engine) as conn:
            ids = [row.id for row in conn.execute(old)]
            if not ids:
                return 0
            conn.execute(delete(webhook_attempts).where(webhook_attempts.c.event_id.in_(ids)))
            conn.execute(delete(webhook_events).where(webhook_events.c.id.in_(ids)))
        return len(ids)

    # -- the tenant's delivery log ----------------------------------------------------------

    def list_for_tenant(
        self, tenant_id: str, limit: int, before_seq: int | None = None
    ) -> list[WebhookEvent]:
        """Newest first; `before_seq` continues past the last row of the previous page."""
        statement = (
            select(webhook_events)
            .where(webhook_events.c.tenant_id == tenant_id)
            .order_by(webhook_events.c.seq.desc())
            .limit(limit)
        )
        if before_seq is not None:
            statement = statement.where(webhook_events.c.seq < before_seq)
        with reading(self.engine) as conn:
            return [WebhookEvent.from_row(row) for row in conn.execute(statement).mappings()]

    def find_for_tenant(self, tenant_id: str, event_id: str) -> WebhookEvent | None:
        with reading(self.engine) as conn:
            row = (
                conn.execute(
                    select(webhook_events).where(
                        webhook_events.c.id == event_id, webhook_events.c.tenant_id == tenant_id
                    )
                )
                .mappings()
                .first()
            )
        return WebhookEvent.from_row(row) if row else None

    def find(self, event_id: str) -> WebhookEvent | None:
        with reading(self.engine) as conn:
            row = (
                conn.execute(select(webhook_events).where(webhook_events.c.id == event_id))
                .mappings()
                .first()
            )
        return WebhookEvent.from_row(row) if row else None

    def events_of_video(self, video_id: str) -> list[WebhookEvent]:
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(webhook_events)
                .where(webhook_events.c.video_id == video_id)
                .order_by(webhook_events.c.seq)
            ).mappings()
            return [WebhookEvent.from_row(row) for row in rows]

    def attempts_of(self, event_id: str) -> list[Attempt]:
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(webhook_attempts)
                .where(webhook_attempts.c.event_id == event_id)
                .order_by(webhook_attempts.c.id)
            ).mappings()
            return [
                Attempt(
                    at=row["at"],
                    url=row["url"],
                    status_code=row["status_code"],
                    error=row["error"],
                    duration_s=row["duration_s"],
                )
                for row in rows
            ]

    def redeliver(self, tenant_id: str, event_id: str, retry_until: float) -> WebhookEvent:
        """Queue the event again, due now, with the same webhook-id and body and a fresh
        retry window. Conflict while an attempt holds it (its lease has not run out)."""
        now = self.clock()
        with writing(self.engine) as conn:
            row = (
                conn.execute(
                    update(webhook_events)
                    .where(
                        webhook_events.c.id == event_id,
                        webhook_events.c.tenant_id == tenant_id,
                        (webhook_events.c.claim_token.is_(None))
                        | (webhook_events.c.next_attempt_at <= now),
                    )
                    .values(
                        state=PENDING,
                        claim_token=None,
                        next_attempt_at=now,
                        retry_until=retry_until,
                        updated_at=now,
                    )
                    .returning(*webhook_events.c)
                )
                .mappings()
                .first()
            )
        if row is not None:
            return WebhookEvent.from_row(row)
        if self.find_for_tenant(tenant_id, event_id) is None:
            raise NotFound(f"webhook delivery {event_id[:80]!r} not found")
        raise Conflict(f"webhook delivery {event_id} is being attempted right now")

    # -- metrics ---------------------------------------------------------------------------

    def counts(self) -> WebhookCounts:
        with reading(self.engine) as conn:
            by_state = {
                row[0]: int(row[1])
                for row in conn.execute(
                    select(webhook_events.c.state, func.count()).group_by(webhook_events.c.state)
                )
            }
            failed = (
                webhook_attempts.c.status_code.is_(None)
                | (webhook_attempts.c.status_code < 200)
                | (webhook_attempts.c.status_code >= 300)
            )
            attempts, failed_attempts = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((failed, literal(1)), else_=literal(0))), 0),
                ).select_from(webhook_attempts)
            ).one()
        return WebhookCounts(
            pending=by_state.get(PENDING, 0),
            delivered=by_state.get(DeliveryState.DELIVERED.value, 0),
            failed=by_state.get(DeliveryState.FAILED.value, 0),
            attempts=int(attempts),
            failed_attempts=int(failed_attempts),
        )
