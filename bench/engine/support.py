"""Shared plumbing for the engine benchmarks: throwaway databases, bulk seeding, run facts."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from vodforge.db.engine import make_engine
from vodforge.db.migrate import upgrade

ADMIN_URL = os.environ.get("VODFORGE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO_ROOT = Path(__file__).resolve().parents[2]
DB_PREFIX = "vodforge_bench_"


def pg_url_for(dbname: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


def _admin(statement: str, dbname: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(dbname)))


@contextmanager
def throwaway_database(label: str) -> Iterator[str]:
    """A fresh PostgreSQL database named vodforge_bench_<label>_<random>, dropped afterwards."""
    name = f"{DB_PREFIX}{label}_{uuid.uuid4().hex[:6]}"
    _admin("CREATE DATABASE {}", name)
    try:
        yield pg_url_for(name)
    finally:
        _admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def migrate(url: str) -> None:
    engine = make_engine(url, null_pool=True)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# -- bulk seeding ---------------------------------------------------------------------------
# Ids are md5-derived UUIDs so videos, jobs and tenants can reference each other in one
# INSERT ... SELECT generate_series without a round trip per row.


def tenant_id_sql(expr: str) -> str:
    return f"md5('bench-tenant-' || ({expr}))::uuid::text"


def seed_tenants(conn: psycopg.Connection, count: int) -> None:
    conn.execute(
        f"""
        INSERT INTO tenants (id, name, api_key_hash, created_at)
        SELECT {tenant_id_sql("t")}, 'bench-tenant-' || t,
               md5('key-a' || t) || md5('key-b' || t), extract(epoch FROM now())
        FROM generate_series(1, %(count)s) AS t
        ON CONFLICT DO NOTHING
        """,
        {"count": count},
    )


def seed_finished_jobs(url: str, count: int, *, tenants: int = 100) -> float:
    """`count` READY videos with SUCCEEDED jobs, bulk-inserted; returns the seconds it took.

    The job_events triggers are disabled for the insert (ALTER TABLE jobs DISABLE TRIGGER
    USER) and re-enabled afterwards, so these history rows have no job_events rows.
    """
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        seed_tenants(conn, tenants)
        params = {"count": count, "tenants": tenants}
        conn.execute(
            f"""
            INSERT INTO videos (id, tenant_id, title, status, source_key, source_bytes, package,
                                current_job_id, created_at, updated_at)
            SELECT md5('bench-video-' || i)::uuid::text,
                   {tenant_id_sql("1 + i %% %(tenants)s")},
                   'finished video ' || i, 'READY', 'sources/' || i || '.mp4', 1000000,
                   '{{"prefix": "videos/done/"}}', md5('bench-job-' || i)::uuid::text,
                   extract(epoch FROM now()) - 86400 * 30 + i * 0.5,
                   extract(epoch FROM now()) - 86400 * 30 + i * 0.5 + 60
            FROM generate_series(1, %(count)s) AS i
            """,
            params,
        )
        conn.execute("ALTER TABLE jobs DISABLE TRIGGER USER")
        try:
            conn.execute(
                f"""
                INSERT INTO jobs (id, video_id, tenant_id, state, priority, attempt_count,
                                  max_attempts, cancel_requested, transition_reason,
                                  transition_by, run_after, created_at, updated_at,
                                  finished_at)
                SELECT md5('bench-job-' || i)::uuid::text, md5('bench-video-' || i)::uuid::text,
                       {tenant_id_sql("1 + i %% %(tenants)s")},
                       'SUCCEEDED', 0, 1, 5, false, 'completed', 'bench-seed',
                       extract(epoch FROM now()) - 86400 * 30 + i * 0.5,
                       extract(epoch FROM now()) - 86400 * 30 + i * 0.5,
                       extract(epoch FROM now()) - 86400 * 30 + i * 0.5 + 60,
                       extract(epoch FROM now()) - 86400 * 30 + i * 0.5 + 60
                FROM generate_series(1, %(count)s) AS i
                """,
                params,
            )
        finally:
            conn.execute("ALTER TABLE jobs ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def queue_jobs_bulk(url: str, count: int, *, tenants: int = 10, salt: str | None = None) -> float:
    """`count` UPLOADED videos with QUEUED jobs (triggers on, so each gets its QUEUED event)."""
    salt = salt or uuid.uuid4().hex
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        seed_tenants(conn, tenants)
        params = {"count": count, "tenants": tenants, "salt": salt}
        with conn.transaction():
            conn.execute(
                f"""
                INSERT INTO videos (id, tenant_id, title, status, source_key, source_bytes,
                                    current_job_id, created_at, updated_at)
                SELECT md5(%(salt)s || 'v' || i)::uuid::text,
                       {tenant_id_sql("1 + i %% %(tenants)s")},
                       'queued video ' || i, 'UPLOADED', 'sources/q' || i || '.mp4', 1000000,
                       md5(%(salt)s || 'j' || i)::uuid::text,
                       extract(epoch FROM now()) + i * 1e-6, extract(epoch FROM now()) + i * 1e-6
                FROM generate_series(1, %(count)s) AS i
                """,
                params,
            )
            conn.execute(
                f"""
                INSERT INTO jobs (id, video_id, tenant_id, state, priority, attempt_count,
                                  max_attempts, cancel_requested, transition_reason,
                                  run_after, created_at, updated_at)
                SELECT md5(%(salt)s || 'j' || i)::uuid::text,
                       md5(%(salt)s || 'v' || i)::uuid::text,
                       {tenant_id_sql("1 + i %% %(tenants)s")},
                       'QUEUED', 0, 0, 5, false, 'uploaded',
                       extract(epoch FROM now()) - 1, extract(epoch FROM now()) + i * 1e-6,
                       extract(epoch FROM now()) + i * 1e-6
                FROM generate_series(1, %(count)s) AS i
                """,
                params,
            )
        conn.execute("ANALYZE jobs")
    return time.perf_counter() - started


# -- numbers --------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


# -- run facts ------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def postgres_version() -> str:
    with psycopg.connect(ADMIN_URL) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def print_header(title: str, inputs: dict[str, object]) -> None:
    command = " ".join(
        [".venv/bin/python", "-m", _module_name(), *(shlex.quote(a) for a in sys.argv[1:])]
    )
    print(f"== {title} ==")
    print(f"date:        {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"command:     {command}")
    print(
        f"machine:     {os.cpu_count()} cores ({_cpu_model()}), {_memory_gib()} RAM, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"software:    Python {platform.python_version()}, PostgreSQL {postgres_version()} "
        f"(127.0.0.1, same machine), SQLAlchemy {_version('sqlalchemy')}, "
        f"psycopg {_version('psycopg')}, procrastinate {_version('procrastinate')}, "
        f"vodforge {_version('vodforge')}"
    )
    print(f"load:        {load_average()} (1/5/15 min; other processes share this machine)")
    for key, value in inputs.items():
        print(f"input:       {key} = {value}")
    print(flush=True)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else sys.argv[0]


# -- subprocesses ---------------------------------------------------------------------------


def vodforge_env(database_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment for a real `vodforge` process whose work lives in bench/engine."""
    env = dict(os.environ)
    env.update(
        VODFORGE_DATABASE_URL=database_url,
        VODFORGE_INTERNAL_TOKEN="bench-token",
        VODFORGE_DATA_DIR=str(data_dir),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    env.update(overrides)
    return env


def vodforge_bin() -> str:
    return str(Path(sys.executable).with_name("vodforge"))


def start_process(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start argv as the leader of its own process group, output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group this benchmark started, then SIGKILL what is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""
