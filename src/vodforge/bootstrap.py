"""The composition root: builds the object graph of one deployment from Settings, once.

Every edge (CLI command, API app, worker, scheduler) starts here and receives the parts it
needs; nothing below this module reads settings or the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from vodforge.db.clock import database_clock
from vodforge.db.engine import make_engine
from vodforge.db.migrate import current_revision, upgrade_if_needed
from vodforge.db.wakeup import PostgresListener, SqliteWatcher, Wakeup
from vodforge.domain.retry import RetryPolicy
from vodforge.domain.scaling import ScalingPolicy
from vodforge.errors import ConfigError, Unavailable
from vodforge.executors.base import Executor
from vodforge.executors.local import LocalExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import JobRepository
from vodforge.pipeline.context import WorkDeps
from vodforge.playback.service import PlaybackService
from vodforge.playback.signing import PlaybackSigner
from vodforge.settings import Settings
from vodforge.storage import Storage, open_storage
from vodforge.telemetry import Telemetry, open_telemetry
from vodforge.tenants.repository import TenantRepository
from vodforge.tenants.service import TenantService
from vodforge.uploads.service import UploadService
from vodforge.videos.repository import VideoRepository
from vodforge.videos.service import VideoService
from vodforge.webhooks.delivery import BackgroundDelivery, DeliveryPolicy, WebhookDeliverer
from vodforge.webhooks.repository import WebhookRepository
from vodforge.webhooks.service import WebhookService

log = logging.getLogger(__name__)


@dataclass
class Components:
    """Everything one process of a deployment uses, built once from its settings."""

    settings: Settings
    engine: Engine
    repo: JobRepository
    videos_repo: VideoRepository
    tenants_repo: TenantRepository
    storage: Storage
    telemetry: Telemetry
    executor: Executor
    dispatcher: Dispatcher
    wakeup: Wakeup
    videos: VideoService
    tenants: TenantService
    signer: PlaybackSigner
    uploads: UploadService
    webhooks: WebhookService
    # The scheduler's webhook step (sends on its own threads; see webhooks/delivery.py).
    webhook_delivery: BackgroundDelivery
    _listener: PostgresListener | SqliteWatcher | None = field(default=None, repr=False)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base_s=self.settings.backoff_base_s, cap_s=self.settings.backoff_cap_s)

    @property
    def scaling_policy(self) -> ScalingPolicy:
        return ScalingPolicy(
            min_workers=self.settings.min_workers,
            max_workers=self.settings.max_workers,
            jobs_per_worker=self.settings.worker_concurrency,
            scale_to_zero_after_s=self.settings.scale_to_zero_after_s,
        )

    @cached_property
    def playback(self) -> PlaybackService:
        return PlaybackService(self.videos_repo, self.storage, self.signer)

    @property
    def work_deps(self) -> WorkDeps:
        return WorkDeps(
            jobs=self.repo,
            videos=self.videos_repo,
            storage=self.storage,
            telemetry=self.telemetry,
            limits=self.settings.limits,
            ffmpeg_path=self.settings.ffmpeg_path,
            ffmpeg_threads=self.settings.ffmpeg_threads,
            chunk_s=self.settings.chunk_s,
            chunk_min_duration_s=self.settings.chunk_min_duration_s,
        )

    def housekeeping(self) -> list[str]:
        """The scheduler's maintenance pass: finish deletes and drop abandoned direct uploads
        (videos), drop abandoned tus uploads and staging files (uploads), send due webhooks
        (in the background). One failing does not keep the others from running."""
        done: list[str] = []
        for task in (
            self.videos.purge_deleted,
            self.uploads.remove_abandoned,
            self.webhook_delivery.step,
        ):
            try:
                done.extend(task())
            except Exception:
                log.exception("housekeeping step %s failed", task.__qualname__)
        return done

    def listen_for_jobs(self) -> None:
        """Wake this process's workers when another process queues a job: NOTIFY on
        PostgreSQL, the database file's data_version on SQLite."""
        if self._listener is not None:
            return
        url = self.settings.database_url
        if self.settings.is_postgres:
            self._listener = PostgresListener(url, self.wakeup)
        elif url.startswith("sqlite:///") and ":memory:" not in url:
            self._listener = SqliteWatcher(url.removeprefix("sqlite:///"), self.wakeup)
        else:
            return
        self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self.webhook_delivery.deliverer.close()
        self.engine.dispose()


def open_components(
    settings: Settings, *, pool_size: int = 5, wait_for_database_s: float = 0.0
) -> Components:
    engine = make_engine(settings.database_url, pool_size=pool_size)
    ensure_schema(engine, settings, wait_for_database_s)
    wakeup = Wakeup()
    # One clock for every timestamp this process writes or compares: the database's, so
    # processes on machines whose clocks disagree still agree on when a lease ends.
    clock = database_clock(engine)
    repo = JobRepository(
        engine,
        lease_ttl_s=settings.lease_ttl_s,
        max_attempts=settings.max_attempts,
        clock=clock,
        wakeup=wakeup,
    )
    videos_repo = VideoRepository(engine, clock=clock)
    tenants_repo = TenantRepository(engine)
    storage = open_storage(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    telemetry = open_telemetry(settings.redis_url, engine, clock=clock)
    executor = open_executor(settings, wakeup)
    # A failing submit is tried again with the job retry backoff (10 s, 20 s, ... 10 min).
    dispatcher = Dispatcher(
        repo,
        executor,
        RetryPolicy(base_s=settings.backoff_base_s, cap_s=settings.backoff_cap_s),
    )
    signer = PlaybackSigner(
        playback_secret(settings), base_url=settings.public_url, ttl_s=settings.playback_ttl_s
    )
    videos = VideoService(
        jobs=repo,
        videos=videos_repo,
        tenants=tenants_repo,
        storage=storage,
        telemetry=telemetry,
        dispatcher=dispatcher,
        signer=signer,
        max_upload_bytes=settings.limits.max_file_bytes,
        clock=clock,
    )
    webhooks_repo = WebhookRepository(engine, clock=clock)
    deliverer = WebhookDeliverer(
        webhooks_repo,
        tenants_repo,
        videos,
        allow_private=settings.webhook_allow_private,
        policy=DeliveryPolicy(retry_window_s=settings.webhook_retry_window_s),
    )
    return Components(
        settings=settings,
        engine=engine,
        repo=repo,
        videos_repo=videos_repo,
        tenants_repo=tenants_repo,
        storage=storage,
        telemetry=telemetry,
        executor=executor,
        dispatcher=dispatcher,
        wakeup=wakeup,
        videos=videos,
        tenants=TenantService(tenants_repo),
        signer=signer,
        uploads=UploadService(
            videos=videos, root=settings.uploads_dir, expiry_s=settings.upload_expiry_s
        ),
        webhooks=WebhookService(
            webhooks_repo,
            tenants_repo,
            allow_private=settings.webhook_allow_private,
            retry_window_s=settings.webhook_retry_window_s,
            clock=clock,
        ),
        webhook_delivery=BackgroundDelivery(deliverer),
    )


def ensure_schema(engine: Engine, settings: Settings, wait_s: float = 0.0) -> None:
    """The embedded mode migrates itself; a shared PostgreSQL is migrated by the operator.
    A database that cannot be reached is waited for up to `wait_s` (a service starting while
    its database restarts or fails over), then reported as unavailable."""
    if settings.is_embedded:
        upgrade_if_needed(engine)
        return
    deadline = time.monotonic() + wait_s
    while True:
        try:
            revision = current_revision(engine)
            break
        except OperationalError as exc:
            reason = str(exc.orig or exc).splitlines()[0][:200]
            if time.monotonic() >= deadline:
                raise Unavailable(f"the database cannot be reached: {reason}") from None
            log.warning("waiting for the database: %s", reason)
            time.sleep(1.0)
    if revision is None:
        raise ConfigError("the database has no vodforge schema: run `vodforge db upgrade` first")


def open_executor(settings: Settings, wakeup: Wakeup) -> Executor:
    if settings.executor == "batch":
        from vodforge.executors.batch import BatchExecutor

        assert settings.batch_job_queue and settings.batch_job_definition
        return BatchExecutor(settings.batch_job_queue, settings.batch_job_definition)
    return LocalExecutor(wakeup)


def playback_secret(settings: Settings) -> bytes:
    """The key that signs playback URLs: configured, kept in the embedded data dir (so URLs
    survive a restart), or derived from the internal token that every process shares."""
    if settings.playback_secret:
        return settings.playback_secret.encode()
    if settings.is_embedded:
        return read_or_create_secret(settings.data_dir / "playback.secret").encode()
    return hmac.new(
        settings.internal_token.encode(), b"vodforge playback v1", hashlib.sha256
    ).digest()


def read_or_create_secret(path: Path) -> str:
    """A random secret kept owner-only in `path`, created on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value
