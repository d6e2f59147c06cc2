"""The schema as SQLAlchemy Core tables; Alembic migrations must produce exactly this.

Times are UTC epoch seconds (double precision) so that SQLite and PostgreSQL compare them the
same way and tests can drive every transition with a fake clock.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

UUID = String(36)
Time = Float(precision=53)

tenants = Table(
    "tenants",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("api_key_hash", String(64), nullable=False, unique=True),
    Column("webhook_url", Text),
    Column("webhook_secret", Text),
    Column("created_at", Time, nullable=False),
)

videos = Table(
    "videos",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("tenant_id", UUID, ForeignKey("tenants.id"), nullable=False),
    Column("title", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("source_key", Text),
    Column("source_bytes", BigInteger),
    # Probe results (JSON text): duration, size, fps, codecs, has_audio, rotation.
    Column("probe", Text),
    Column("duration_s", Float),
    Column("width", Integer),
    Column("height", Integer),
    # The published package (JSON text): prefix, master key, renditions, poster, thumbnail.
    # Set only in the transaction that completes the job whose attempt produced it.
    Column("package", Text),
    Column("current_job_id", UUID),
    Column("error_code", String(40)),
    Column("error_message", Text),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    # Set by delete: the video is gone from the API at once; the scheduler purges its rows
    # and objects once no job of it can still write (a running job is cancelled first).
    Column("deleted_at", Time),
    # A PENDING_UPLOAD video (direct upload) that is not completed by then is abandoned.
    Column("upload_expires_at", Time),
    Index(None, "tenant_id", "created_at"),
    Index(None, "status"),
    Index(
        "ix_videos_deleted",
        "deleted_at",
        postgresql_where=text("deleted_at IS NOT NULL"),
        sqlite_where=text("deleted_at IS NOT NULL"),
    ),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", UUID, primary_key=True),
    Column("video_id", UUID, ForeignKey("videos.id"), nullable=False),
    Column("tenant_id", UUID, ForeignKey("tenants.id"), nullable=False),
    Column("state", String(20), nullable=False),
    # Lower runs first (beanstalkd's and BullMQ's convention): the claim index can then be
    # one ascending (tenant, priority, age) index that both databases reflect alike.
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_token", UUID),
    Column("leased_by", String(200)),
    Column("leased_until", Time),
    Column("last_heartbeat_at", Time),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("run_after", Time),
    Column("executor_ref", Text),
    Column("dispatched_at", Time),
    Column("dispatch_error", Text),
    # Failed submits in a row, and when the next one may be tried (the dispatcher's backoff);
    # bookkeeping like dispatched_at, never job state.
    Column("dispatch_failures", Integer, nullable=False, server_default=text("0")),
    Column("dispatch_after", Time),
    Column("last_error_code", String(40)),
    Column("last_error_message", Text),
    # Why and by whom the latest transition happened; the job_events trigger copies them so
    # an event row can never be forgotten by a code path.
    Column("transition_reason", Text),
    Column("transition_by", String(200)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("finished_at", Time),
    # Chunked encoding (SPEC §3 item 7): the video's job is the parent of its chunk, audio
    # and stitch jobs, which are ordinary jobs in this table. `spec` is what a child is to
    # do (its span, JSON); `result` what it produced (its output manifest, JSON), written in
    # the fenced transition that completes it, so a zombie attempt can never record one.
    Column("parent_id", UUID, ForeignKey("jobs.id")),
    Column("kind", String(20), nullable=False, server_default=text("'transcode'")),
    Column("spec", Text),
    Column("result", Text),
    Index(None, "video_id"),
    Index(None, "parent_id"),
    # At most one stitch per family, whatever races two finishing chunks run.
    Index(
        "uq_jobs_one_stitch",
        "parent_id",
        unique=True,
        postgresql_where=text("kind = 'stitch'"),
        sqlite_where=text("kind = 'stitch'"),
    ),
    # Partial indexes keep claim and scan cost proportional to live jobs, not to history.
    Index(
        "ix_jobs_claimable",
        "tenant_id",
        "priority",
        "created_at",
        postgresql_where=text("state IN ('QUEUED', 'RETRY_WAIT')"),
        sqlite_where=text("state IN ('QUEUED', 'RETRY_WAIT')"),
    ),
    Index(
        "ix_jobs_running_lease",
        "leased_until",
        postgresql_where=text("state = 'RUNNING'"),
        sqlite_where=text("state = 'RUNNING'"),
    ),
    Index(
        "ix_jobs_running_tenant",
        "tenant_id",
        postgresql_where=text("state = 'RUNNING'"),
        sqlite_where=text("state = 'RUNNING'"),
    ),
)

job_events = Table(
    "job_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("job_id", UUID, ForeignKey("jobs.id"), nullable=False),
    Column("at", Time, nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("reason", Text),
    Column("worker_id", String(200)),
    Index(None, "job_id", "id"),
)

# Live telemetry when no Redis is configured: never the jobs table (SPEC §5).
video_progress = Table(
    "video_progress",
    metadata,
    Column("video_id", UUID, primary_key=True),
    Column("tenant_id", UUID, nullable=False),
    Column("payload", Text, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("heartbeat_at", Time),
)

# The webhook outbox (migration 0004). A row is written by database triggers on `videos` in the
# transaction that changes the video (status to READY/FAILED/CANCELLED, or deleted_at set), so
# no code path can change a video without its event; `snapshot` is the video row as it was
# then, because the video may be purged before the first delivery attempt. `id` is the
# webhook-id every attempt sends; `seq` orders events and pages the delivery log.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("id", String(40), nullable=False, unique=True),
    Column("tenant_id", UUID, ForeignKey("tenants.id"), nullable=False),
    # No foreign key: the delivery log outlives a purged video.
    Column("video_id", UUID, nullable=False),
    Column("type", String(40), nullable=False),
    Column("occurred_at", Time, nullable=False),
    Column("snapshot", Text, nullable=False),
    # The exact body, composed once at the first attempt so every retry sends the same bytes.
    Column("payload", Text),
    Column("state", String(20), nullable=False, server_default=text("'PENDING'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # When a PENDING event is due; while an attempt runs, the end of that attempt's lease.
    Column("next_attempt_at", Time, nullable=False),
    # Set by the attempt that holds the event; fences its result write.
    Column("claim_token", String(36)),
    # Retries stop here (occurred_at + the retry window unless a redelivery moved it).
    Column("retry_until", Time),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", Time),
    Column("updated_at", Time, nullable=False),
    Index(None, "tenant_id", "seq"),
    Index(
        "ix_webhook_events_due",
        "next_attempt_at",
        postgresql_where=text("state = 'PENDING'"),
        sqlite_where=text("state = 'PENDING'"),
    ),
)

# Every delivery attempt: the log behind GET /v1/webhooks/deliveries/{id}.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", String(40), ForeignKey("webhook_events.id"), nullable=False),
    Column("at", Time, nullable=False),
    Column("url", Text, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_s", Float, nullable=False),
    Index(None, "event_id", "id"),
)
