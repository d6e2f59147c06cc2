"""Webhooks: the outbox (webhook_events), the delivery log (webhook_attempts), and the
triggers on videos that write an event in the transaction of every change worth one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("video_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.Float(precision=53), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column(
            "state", sa.String(length=20), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.Float(precision=53), nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("retry_until", sa.Float(precision=53), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.Float(precision=53), nullable=True),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_webhook_events_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("id", name=op.f("uq_webhook_events_id")),
    )
    # Plain create_index, not batch mode: on SQLite a batch operation may rebuild a table,
    # and a rebuilt table loses its triggers.
    op.create_index(
        "ix_webhook_events_due",
        "webhook_events",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'PENDING'"),
        sqlite_where=sa.text("state = 'PENDING'"),
    )
    op.create_index(op.f("ix_webhook_events_tenant_id_seq"), "webhook_events", ["tenant_id", "seq"])

    op.create_table(
        "webhook_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_events.id"],
            name=op.f("fk_webhook_attempts_event_id_webhook_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(op.f("ix_webhook_attempts_event_id_id"), "webhook_attempts", ["event_id", "id"])

    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in ("video_deleted_webhook", "video_status_webhook"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON videos" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS vodforge_webhook_event()")
    op.drop_index(op.f("ix_webhook_attempts_event_id_id"), table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index(op.f("ix_webhook_events_tenant_id_seq"), table_name="webhook_events")
    op.drop_index("ix_webhook_events_due", table_name="webhook_events")
    op.drop_table("webhook_events")


# The outbox rows come from the database itself, like job_events (0001): every statement that
# changes a video's status -- the single-statement PostgreSQL CTEs of claim and complete, the
# repository's settle, reconcile's repairs -- and the delete mark write the event in their own
# transaction, and only for tenants with a webhook URL. A deleted video gets no status events
# after its video.deleted (a running job it had still ends CANCELLED).
# The snapshot is the video row (and its current job's summary) at the change: the deliverer
# builds the body's video JSON from it, since the video may be purged before the first attempt.

_SQLITE_SNAPSHOT = """json_object(
        'id', NEW.id, 'tenant_id', NEW.tenant_id, 'title', NEW.title, 'status', NEW.status,
        'source_key', NEW.source_key, 'source_bytes', NEW.source_bytes, 'probe', NEW.probe,
        'duration_s', NEW.duration_s, 'width', NEW.width, 'height', NEW.height,
        'package', NEW.package, 'current_job_id', NEW.current_job_id,
        'error_code', NEW.error_code, 'error_message', NEW.error_message,
        'created_at', NEW.created_at, 'updated_at', NEW.updated_at,
        'job', json((SELECT json_object('id', jobs.id, 'state', jobs.state,
                                        'attempt_count', jobs.attempt_count,
                                        'max_attempts', jobs.max_attempts)
                     FROM jobs WHERE jobs.id = NEW.current_job_id)))"""

_SQLITE_INSERT = """
        INSERT INTO webhook_events (id, tenant_id, video_id, type, occurred_at, snapshot,
                                    state, attempts, next_attempt_at, updated_at)
        SELECT 'msg_' || lower(hex(randomblob(16))), NEW.tenant_id, NEW.id, {type},
               NEW.updated_at, {snapshot}, 'PENDING', 0, NEW.updated_at, NEW.updated_at
        FROM tenants WHERE tenants.id = NEW.tenant_id AND tenants.webhook_url IS NOT NULL;"""

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER video_status_webhook AFTER UPDATE OF status ON videos
    WHEN OLD.status IS NOT NEW.status AND NEW.status IN ('READY', 'FAILED', 'CANCELLED')
         AND NEW.deleted_at IS NULL
    BEGIN"""
    + _SQLITE_INSERT.format(type="'video.' || lower(NEW.status)", snapshot=_SQLITE_SNAPSHOT)
    + """
    END
    """,
    """
    CREATE TRIGGER video_deleted_webhook AFTER UPDATE OF deleted_at ON videos
    WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
    BEGIN"""
    + _SQLITE_INSERT.format(type="'video.deleted'", snapshot=_SQLITE_SNAPSHOT)
    + """
    END
    """,
]

POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION vodforge_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- An AFTER trigger sees the whole statement's changes: the job row that a complete
        -- or claim CTE updated next to this video is already in its new state here.
        INSERT INTO webhook_events (id, tenant_id, video_id, type, occurred_at, snapshot,
                                    state, attempts, next_attempt_at, updated_at)
        SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), NEW.tenant_id, NEW.id,
               CASE WHEN TG_ARGV[0] = 'deleted' THEN 'video.deleted'
                    ELSE 'video.' || lower(NEW.status) END,
               NEW.updated_at,
               (to_jsonb(NEW) || jsonb_build_object('job', (
                    SELECT jsonb_build_object('id', jobs.id, 'state', jobs.state,
                                              'attempt_count', jobs.attempt_count,
                                              'max_attempts', jobs.max_attempts)
                    FROM jobs WHERE jobs.id = NEW.current_job_id)))::text,
               'PENDING', 0, NEW.updated_at, NEW.updated_at
        FROM tenants WHERE tenants.id = NEW.tenant_id AND tenants.webhook_url IS NOT NULL;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER video_status_webhook AFTER UPDATE OF status ON videos
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('READY', 'FAILED', 'CANCELLED') AND NEW.deleted_at IS NULL)
    EXECUTE FUNCTION vodforge_webhook_event('status')
    """,
    """
    CREATE TRIGGER video_deleted_webhook AFTER UPDATE OF deleted_at ON videos
    FOR EACH ROW
    WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION vodforge_webhook_event('deleted')
    """,
]
