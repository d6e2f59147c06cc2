"""Settings read once from VODFORGE_* variables at the edge (CLI entry) and passed in."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vodforge.domain.limits import InputLimits
from vodforge.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./vodforge-data")
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    redis_url: str | None = None
    executor: str = "local"
    batch_job_queue: str | None = None
    batch_job_definition: str | None = None
    heartbeat_s: float = 5.0
    lease_ttl_s: float = 30.0
    scan_interval_s: float = 5.0
    max_attempts: int = 5
    backoff_base_s: float = 10.0
    backoff_cap_s: float = 600.0
    # Fallback poll when no wake-up arrives (LISTEN/NOTIFY or in-process signal).
    poll_interval_s: float = 1.0
    internal_token: str = ""
    internal_token_generated: bool = False
    # Failed authentications (a wrong API key or internal token) one client address may make
    # within the window before every request from it is 429 until the window has passed;
    # counted by each API process on its own. A limit of 0 turns this off.
    auth_failure_limit: int = 30
    auth_failure_window_s: int = 60
    # Where clients reach the API; playback URLs are built on it.
    public_url: str = "http://127.0.0.1:8000"
    playback_ttl_s: int = 21600
    # Signs playback URLs; unset: kept in the data dir (embedded) or derived from the
    # internal token (every API process of a deployment shares that one already).
    playback_secret: str | None = None
    # A resumable (tus) upload that receives no bytes for this long is abandoned and removed.
    upload_expiry_s: float = 86400.0
    # Slow clients (slowloris): a request's line and headers must all arrive within
    # header_timeout_s of its first byte (or of the connection opening); a body may pause at
    # most body_idle_timeout_s between two chunks, and must end within body_timeout_s plus one
    # second per body_min_rate bytes received (Apache mod_reqtimeout's `body=...,MinRate=...`;
    # a rate of 0 makes body_timeout_s a plain total). Past any of them the connection closes.
    header_timeout_s: float = 10.0
    # A response the client reads none of for this long (its buffers full) is dropped.
    response_idle_timeout_s: float = 60.0
    body_idle_timeout_s: float = 30.0
    body_timeout_s: float = 60.0
    body_min_rate: float = 1024.0
    # The largest body of every route but the two that stream uploads (POST /v1/videos and
    # tus PATCH, limited by max_file_bytes): all of them take small JSON documents.
    max_json_bytes: int = 64 * 1024
    # The scaling signal (internal API, `vodforge scaling`).
    min_workers: int = 0
    max_workers: int = 10
    worker_concurrency: int = 1
    scale_to_zero_after_s: float = 600.0
    # Publish the scaling signal (BacklogCount) to this CloudWatch namespace; unset: don't.
    cloudwatch_namespace: str | None = None
    # The storage sweep of attempt prefixes no job owns: how often, and how old they must be.
    sweep_every_s: float = 3600.0
    sweep_grace_s: float = 3600.0
    # Webhook URLs may resolve to loopback, private or link-local addresses (the SSRF guard
    # is off): true by default in the embedded mode only, where the receiver is often local.
    webhook_allow_private: bool = False
    # A webhook event is retried with backoff for this long after it happened, then FAILED.
    webhook_retry_window_s: float = 86400.0
    ffmpeg_path: str | None = None
    # Threads per encoder; 0 means one per core.
    ffmpeg_threads: int = 0
    # Chunked encoding of long videos (SPEC §3 item 7, §5); 0 disables.
    chunk_s: float = 60.0
    chunk_min_duration_s: float = 300.0
    # The job's work, as "module:callable"; the media pipeline unless a test swaps it.
    work: str = "vodforge.pipeline.work:transcode_work"
    limits: InputLimits = field(default_factory=InputLimits)

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "scratch"

    @property
    def uploads_dir(self) -> Path:
        """Uploads in flight: multipart staging files and tus uploads."""
        return self.data_dir / "uploads"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"VODFORGE_{name}")
            return value if value not in (None, "") else None

        def number(name: str, default: float, minimum: float | None = None) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"VODFORGE_{name} must be a number, got {raw!r}") from None
            if minimum is None and value <= 0:
                raise ConfigError(f"VODFORGE_{name} must be positive, got {raw!r}")
            if minimum is not None and value < minimum:
                raise ConfigError(f"VODFORGE_{name} must be at least {minimum:g}, got {raw!r}")
            return value

        def flag(name: str, default: bool) -> bool:
            raw = get(name)
            if raw is None:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"VODFORGE_{name} must be true or false, got {raw!r}")

        data_dir = Path(get("DATA_DIR") or "./vodforge-data").absolute()
        database_url = get("DATABASE_URL") or f"sqlite:///{data_dir / 'vodforge.db'}"
        if database_url.startswith("postgres://"):
            database_url = "postgresql://" + database_url.removeprefix("postgres://")
        if not database_url.startswith(("sqlite", "postgresql")):
            raise ConfigError("VODFORGE_DATABASE_URL must be sqlite:///... or postgresql://...")
        storage_url = get("STORAGE_URL") or f"file://{data_dir / 'storage'}"
        if not storage_url.startswith(("file://", "s3://", "memory://")):
            raise ConfigError("VODFORGE_STORAGE_URL must be file://DIR or s3://bucket/prefix")
        executor = get("EXECUTOR") or "local"
        if executor not in ("local", "batch"):
            raise ConfigError(f"VODFORGE_EXECUTOR must be 'local' or 'batch', got {executor!r}")
        embedded = database_url.startswith("sqlite")

        internal_token = get("INTERNAL_TOKEN") or ""
        generated = False
        if not internal_token:
            if not embedded:
                raise ConfigError("VODFORGE_INTERNAL_TOKEN is required outside the embedded mode")
            internal_token, generated = secrets.token_urlsafe(24), True

        heartbeat_s = number("HEARTBEAT_S", 5.0)
        lease_ttl_s = number("LEASE_TTL_S", 30.0)
        if lease_ttl_s <= heartbeat_s:
            raise ConfigError("VODFORGE_LEASE_TTL_S must be longer than VODFORGE_HEARTBEAT_S")
        limits = InputLimits(
            max_file_bytes=int(number("MAX_FILE_BYTES", InputLimits.max_file_bytes)),
            max_duration_s=number("MAX_DURATION_S", InputLimits.max_duration_s),
            max_width=int(number("MAX_WIDTH", InputLimits.max_width)),
            max_height=int(number("MAX_HEIGHT", InputLimits.max_height)),
            max_fps=number("MAX_FPS", InputLimits.max_fps),
            probe_timeout_s=number("PROBE_TIMEOUT_S", InputLimits.probe_timeout_s),
        )
        settings = cls(
            data_dir=data_dir,
            database_url=database_url,
            storage_url=storage_url,
            # boto3's own per-service variable counts too, so one AWS_ENDPOINT_URL_S3 points
            # every S3 client at a stand-in; resolved here so path-style addressing follows it.
            s3_endpoint_url=get("S3_ENDPOINT_URL")
            or env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_ENDPOINT_URL")
            or None,
            redis_url=get("REDIS_URL"),
            executor=executor,
            batch_job_queue=get("BATCH_JOB_QUEUE"),
            batch_job_definition=get("BATCH_JOB_DEFINITION"),
            heartbeat_s=heartbeat_s,
            lease_ttl_s=lease_ttl_s,
            scan_interval_s=number("SCAN_INTERVAL_S", 5.0),
            max_attempts=int(number("MAX_ATTEMPTS", 5)),
            backoff_base_s=number("BACKOFF_BASE_S", 10.0),
            backoff_cap_s=number("BACKOFF_CAP_S", 600.0),
            poll_interval_s=number("POLL_INTERVAL_S", 1.0),
            internal_token=internal_token,
            internal_token_generated=generated,
            auth_failure_limit=int(number("AUTH_FAILURE_LIMIT", cls.auth_failure_limit, 0)),
            # Whole seconds: the limiter counts in seconds.
            auth_failure_window_s=math.ceil(
                number("AUTH_FAILURE_WINDOW_S", cls.auth_failure_window_s, 1)
            ),
            public_url=(get("PUBLIC_URL") or cls.public_url).rstrip("/"),
            playback_ttl_s=int(number("PLAYBACK_TTL_S", cls.playback_ttl_s)),
            playback_secret=get("PLAYBACK_SECRET"),
            upload_expiry_s=number("UPLOAD_EXPIRY_S", cls.upload_expiry_s),
            header_timeout_s=number("HEADER_TIMEOUT_S", cls.header_timeout_s),
            response_idle_timeout_s=number("RESPONSE_IDLE_TIMEOUT_S", cls.response_idle_timeout_s),
            body_idle_timeout_s=number("BODY_IDLE_TIMEOUT_S", cls.body_idle_timeout_s),
            body_timeout_s=number("BODY_TIMEOUT_S", cls.body_timeout_s),
            body_min_rate=number("BODY_MIN_RATE", cls.body_min_rate, minimum=0),
            max_json_bytes=int(number("MAX_JSON_BYTES", cls.max_json_bytes)),
            min_workers=int(number("MIN_WORKERS", 0, minimum=0)),
            max_workers=int(number("MAX_WORKERS", 10)),
            worker_concurrency=int(number("WORKER_CONCURRENCY", 1)),
            scale_to_zero_after_s=number("SCALE_TO_ZERO_AFTER_S", 600.0),
            cloudwatch_namespace=get("CLOUDWATCH_NAMESPACE"),
            sweep_every_s=number("SWEEP_EVERY_S", cls.sweep_every_s),
            sweep_grace_s=number("SWEEP_GRACE_S", cls.sweep_grace_s),
            webhook_allow_private=flag("WEBHOOK_ALLOW_PRIVATE", default=embedded),
            webhook_retry_window_s=number("WEBHOOK_RETRY_WINDOW_S", cls.webhook_retry_window_s),
            ffmpeg_path=get("FFMPEG"),
            ffmpeg_threads=int(number("FFMPEG_THREADS", 0)),
            chunk_s=number("CHUNK_SECONDS", cls.chunk_s, minimum=0),
            chunk_min_duration_s=number(
                "CHUNK_MIN_DURATION_S", cls.chunk_min_duration_s, minimum=0
            ),
            work=get("WORK") or cls.work,
            limits=limits,
        )
        if settings.min_workers > settings.max_workers:
            raise ConfigError("VODFORGE_MIN_WORKERS must not exceed VODFORGE_MAX_WORKERS")
        if executor == "batch" and not (settings.batch_job_queue and settings.batch_job_definition):
            raise ConfigError(
                "VODFORGE_BATCH_JOB_QUEUE and VODFORGE_BATCH_JOB_DEFINITION are required "
                "when VODFORGE_EXECUTOR=batch"
            )
        return settings
