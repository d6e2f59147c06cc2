"""`vodforge doctor`: is this deployment ready to run jobs, and if not, what to fix.

Each check answers {name, ok, detail, fix}; a warning passes with its advice in `fix`. Every
optional dependency is imported only by the check that needs it (boto3 for S3 storage or
Batch, redis when configured): readiness tooling that dies on an import explains nothing.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from vodforge.db.clock import SKEW_WORTH_LOGGING_S, postgres_offset
from vodforge.db.engine import make_engine
from vodforge.db.migrate import HEAD_REVISION, current_revision
from vodforge.operations.checks import Check, DoctorReport, first_line
from vodforge.operations.ffmpeg_check import check_ffmpeg
from vodforge.storage import Storage, open_storage


@dataclass(frozen=True)
class DoctorConfig:
    """The settings doctor looks at, as plain values (the CLI reads them from Settings)."""

    database_url: str
    storage_url: str
    s3_endpoint_url: str | None = None
    redis_url: str | None = None
    executor: str = "local"
    batch_job_queue: str | None = None
    batch_job_definition: str | None = None
    ffmpeg_override: str | None = None
    # Batch jobs RUNNABLE for longer than this are listed with Batch's reason.
    runnable_after_s: float = 600.0


def run_doctor(config: DoctorConfig) -> DoctorReport:
    database = check_database(config.database_url)
    checks = [database]
    if database.ok and not config.database_url.startswith("sqlite"):
        checks.append(check_clock(config.database_url))
    checks += [
        check_ffmpeg(config.ffmpeg_override),
        check_storage(config.storage_url, config.s3_endpoint_url),
    ]
    if config.redis_url:
        checks.append(check_redis(config.redis_url))
    checks.append(check_executor(config))
    if config.executor == "batch" and config.batch_job_queue and config.batch_job_definition:
        checks += _batch_checks(config)
    return DoctorReport(checks)


def _batch_checks(config: DoctorConfig) -> list[Check]:
    # Only a Batch deployment loads the Batch checks, and boto3 for their client.
    from vodforge.executors.batch import batch_client
    from vodforge.operations.batch_checks import API_FIX, batch_checks

    assert config.batch_job_queue and config.batch_job_definition
    try:
        client = batch_client()  # AWS_ENDPOINT_URL_BATCH and AWS_REGION as boto3 reads them
    except Exception as exc:
        return [Check("batch.api", False, f"no Batch client: {first_line(exc)}", API_FIX)]
    return batch_checks(
        client,
        config.batch_job_queue,
        config.batch_job_definition,
        runnable_after_s=config.runnable_after_s,
        now=time.time(),
    )


def safe_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.rsplit("@", maxsplit=1)[-1]


def check_database(database_url: str) -> Check:
    name = "database"
    shown = safe_url(database_url)
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if not path.exists():
            # Connecting would create the file; the embedded mode creates and migrates it.
            return Check(name, True, f"{shown}: not created yet; the first start creates it")
    try:
        engine = make_engine(database_url, null_pool=True)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            revision = current_revision(engine)
        finally:
            engine.dispose()
    except Exception as exc:
        return Check(
            name,
            False,
            f"{shown}: cannot connect ({first_line(exc)})",
            "check VODFORGE_DATABASE_URL (host, port, database, user, password) and that the "
            "database server is running and reachable from here",
        )
    return _schema_check(name, shown, revision, embedded=database_url.startswith("sqlite"))


def check_clock(database_url: str) -> Check:
    """How far this machine's clock is from the database server's. Leases follow the server's
    (`vodforge.db.clock`), so a difference breaks no job; what this machine stamps on its own
    clock does drift with it: log times, webhook signatures, playback expiries."""
    name = "clock"
    engine = make_engine(database_url, null_pool=True)
    try:
        offset_s = postgres_offset(engine)(time.time)
    except Exception as exc:
        return Check(
            name,
            False,
            f"cannot read the database server's clock ({first_line(exc)})",
            "run doctor again: the database answered the check above but not this one",
        )
    finally:
        engine.dispose()
    side = "behind" if offset_s > 0 else "ahead of"
    detail = (
        f"this machine's clock is {abs(offset_s):.3f} s {side} the database server's"
        " (leases follow the server's)"
    )
    if abs(offset_s) < SKEW_WORTH_LOGGING_S:
        return Check(name, True, detail)
    return Check(
        name,
        True,
        detail,
        "synchronise this machine's clock (NTP, e.g. chrony) and the database server's: log"
        " times, webhook signatures and playback expiries made here are off by as much",
    )


def _schema_check(name: str, shown: str, revision: str | None, *, embedded: bool) -> Check:
    if revision == HEAD_REVISION:
        return Check(name, True, f"{shown}: reachable, schema at {revision} (current)")
    upgrade = "run `vodforge db upgrade` with the same VODFORGE_DATABASE_URL"
    if revision is None:
        if embedded:
            return Check(name, True, f"{shown}: reachable, no schema yet (created on first start)")
        return Check(name, False, f"{shown}: reachable, but it has no vodforge schema", upgrade)
    if not (revision.isdigit() and HEAD_REVISION.isdigit()) or revision > HEAD_REVISION:
        return Check(
            name,
            False,
            f"{shown}: schema at {revision}, newer than this vodforge knows ({HEAD_REVISION})",
            "run the vodforge version that migrated this database (upgrade this installation)",
        )
    if embedded:
        return Check(
            name,
            True,
            f"{shown}: schema at {revision}, behind {HEAD_REVISION}; the embedded mode "
            "migrates itself on its next start",
        )
    return Check(name, False, f"{shown}: schema at {revision}, behind {HEAD_REVISION}", upgrade)


def check_storage(storage_url: str, s3_endpoint_url: str | None) -> Check:
    """Write, read back and delete one small object: what every job does, in miniature."""
    name = "storage"
    key = f"doctor/{uuid.uuid4().hex}.txt"
    body = f"vodforge doctor {time.time()}".encode()
    s3 = storage_url.startswith("s3://")
    fix = (
        "check the bucket exists and the credentials allow s3:PutObject, s3:GetObject, "
        "s3:DeleteObject and s3:ListBucket on this prefix (VODFORGE_STORAGE_URL, "
        "VODFORGE_S3_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 for a non-AWS endpoint)"
        if s3
        else "make VODFORGE_STORAGE_URL (or VODFORGE_DATA_DIR) name a directory this user can "
        "create and write, on a disk with free space"
    )
    storage: Storage | None = None
    try:
        storage = open_storage(storage_url, s3_endpoint_url=s3_endpoint_url)
        storage.put_bytes(key, body, "text/plain")
        if storage.read_bytes(key) != body:
            return Check(name, False, f"{storage_url}: read back different bytes", fix)
        storage.delete_key(key)
        if storage.exists(key):
            return Check(name, False, f"{storage_url}: the test object survived a delete", fix)
    except Exception as exc:
        if storage is not None:
            _try_delete(storage, key)
        return Check(name, False, f"{storage_url}: {first_line(exc)}", fix)
    detail = f"{storage_url}: write, read and delete work"
    if s3 and s3_endpoint_url:
        detail += f" (endpoint {s3_endpoint_url})"
    elif not s3 and storage is not None:
        detail += _free_space(storage)
    return Check(name, True, detail)


def _free_space(storage: Storage) -> str:
    """Free space where a local storage keeps its objects (a full disk fails every job)."""
    path = storage.local_path("doctor")
    try:
        free = shutil.disk_usage(path.parent) if path is not None else None
    except OSError:
        return ""
    return f", {free.free / 2**30:.1f} GiB free" if free else ""


def _try_delete(storage: Storage, key: str) -> None:
    # The check already failed; a leftover test object is the lesser problem.
    with contextlib.suppress(Exception):
        storage.delete_key(key)


def check_redis(redis_url: str) -> Check:
    name = "redis"
    shown = safe_url(redis_url)
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
            version = client.info("server").get("redis_version", "?")
        finally:
            client.close()
    except Exception as exc:
        return Check(
            name,
            False,
            f"{shown}: {first_line(exc)}",
            "start Redis or fix VODFORGE_REDIS_URL; unset it to keep progress telemetry in "
            "the database",
        )
    return Check(name, True, f"{shown}: PING answered (Redis {version})")


def check_executor(config: DoctorConfig) -> Check:
    name = "executor"
    if config.executor != "batch":
        return Check(
            name,
            True,
            "local: `vodforge worker` processes (or `vodforge up`) claim jobs themselves",
        )
    problems: list[str] = []
    fixes: list[str] = []
    if not (config.batch_job_queue and config.batch_job_definition):
        problems.append("VODFORGE_BATCH_JOB_QUEUE and VODFORGE_BATCH_JOB_DEFINITION must be set")
        fixes.append("set both to the queue and job definition names")
    if config.database_url.startswith("sqlite"):
        problems.append("containers cannot share an SQLite file")
        fixes.append("use PostgreSQL (VODFORGE_DATABASE_URL=postgresql://...)")
    if not config.storage_url.startswith("s3://"):
        problems.append("containers cannot see this machine's storage directory")
        fixes.append("use S3 storage (VODFORGE_STORAGE_URL=s3://bucket/prefix)")
    detail = (
        f"AWS Batch: queue {config.batch_job_queue}, job definition {config.batch_job_definition}"
    )
    if problems:
        return Check(name, False, f"{detail}; " + "; ".join(problems), "; ".join(fixes))
    return Check(name, True, detail)
