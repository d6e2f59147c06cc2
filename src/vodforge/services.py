"""The composition root: builds the database, repository, storage, telemetry and executor once."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from vodforge.db.engine import make_engine
from vodforge.db.migrate import current_revision, upgrade_if_needed
from vodforge.domain.retry import RetryPolicy
from vodforge.errors import ConfigError
from vodforge.executors.base import Executor
from vodforge.executors.local import LocalExecutor
from vodforge.jobs.repository import JobRepository
from vodforge.jobs.wakeup import PostgresListener, Wakeup
from vodforge.settings import Settings
from vodforge.storage import Storage, open_storage
from vodforge.telemetry import Telemetry, open_telemetry


@dataclass
class Services:
    settings: Settings
    engine: Engine
    repo: JobRepository
    storage: Storage
    telemetry: Telemetry
    executor: Executor
    wakeup: Wakeup
    _listener: PostgresListener | None = field(default=None, repr=False)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(base_s=self.settings.backoff_base_s, cap_s=self.settings.backoff_cap_s)

    def listen_for_jobs(self) -> None:
        """On PostgreSQL, wake this process's workers on NOTIFY from other processes."""
        if self.settings.is_postgres and self._listener is None:
            self._listener = PostgresListener(self.settings.database_url, self.wakeup)
            self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self.engine.dispose()


def open_services(settings: Settings, *, pool_size: int = 5) -> Services:
    engine = make_engine(settings.database_url, pool_size=pool_size)
    ensure_schema(engine, settings)
    wakeup = Wakeup()
    repo = JobRepository(
        engine, lease_ttl_s=settings.lease_ttl_s, max_attempts=settings.max_attempts, wakeup=wakeup
    )
    return Services(
        settings=settings,
        engine=engine,
        repo=repo,
        storage=open_storage(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url),
        telemetry=open_telemetry(settings.redis_url, engine),
        executor=open_executor(settings, wakeup),
        wakeup=wakeup,
    )


def ensure_schema(engine: Engine, settings: Settings) -> None:
    """The embedded mode migrates itself; a shared PostgreSQL is migrated by the operator."""
    if settings.is_embedded:
        upgrade_if_needed(engine)
        return
    if current_revision(engine) is None:
        raise ConfigError("the database has no vodforge schema: run `vodforge db upgrade` first")


def open_executor(settings: Settings, wakeup: Wakeup) -> Executor:
    if settings.executor == "batch":
        from vodforge.executors.batch import BatchExecutor

        assert settings.batch_job_queue and settings.batch_job_definition
        return BatchExecutor(settings.batch_job_queue, settings.batch_job_definition)
    return LocalExecutor(wakeup)
