"""The lease scanner's and the claim's plans and cost on a 1M-row jobs table.

Shows EXPLAIN (ANALYZE, BUFFERS) of expire_stale_leases and claim_job (the SQL of
queries.sql, run through SQLAlchemy with bound parameters, each in a transaction rolled
back), then times expire_stale_leases at 0, 10, 100 and 1000 expired leases over 1M
finished jobs, and at 100 expired leases over 10k vs 1M rows: its cost should follow the
expired leases, not the table.

    .venv/bin/python -m bench.engine.scanner_explain [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from dataclasses import dataclass

import psycopg
from sqlalchemy import Connection, text

from bench.engine.support import (
    migrate,
    print_header,
    queue_jobs_bulk,
    seed_finished_jobs,
    throwaway_database,
)
from vodforge.db.engine import make_engine
from vodforge.jobs.repository import JobRepository
from vodforge.jobs.sql import query

LIVE_LEASES = 50  # RUNNING jobs whose lease is still good: the scanner must leave them alone
QUEUED = 100
REPS = 7


@dataclass(frozen=True)
class Timing:
    total_rows: int
    expired: int
    batch: int
    returned: int
    wall_ms: float
    server_ms: float
    repo_ms: float


def stage(url: str, expired: int) -> None:
    """Turn the first `expired` finished jobs into RUNNING jobs whose lease ran out a minute
    ago, and the next LIVE_LEASES into RUNNING jobs with an hour of lease left."""
    now = time.time()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            UPDATE jobs SET state = 'RUNNING', lease_token = md5(id || 'lease')::uuid::text,
                   leased_by = CASE WHEN n <= %(expired)s THEN 'bench:dead-worker'
                                    ELSE 'bench:live-worker' END,
                   leased_until = CASE WHEN n <= %(expired)s THEN %(now)s - 60
                                       ELSE %(now)s + 3600 END,
                   last_heartbeat_at = %(now)s - 90, finished_at = NULL,
                   transition_reason = 'bench: staged', transition_by = 'bench'
            FROM generate_series(1, %(expired)s + %(live)s) AS n
            WHERE jobs.id = md5('bench-job-' || n)::uuid::text
            """,
            {"expired": expired, "live": LIVE_LEASES, "now": now},
        )
        conn.execute(
            "UPDATE videos SET status = 'PROCESSING' WHERE id IN "
            "(SELECT video_id FROM jobs WHERE state = 'RUNNING')"
        )
        conn.execute("VACUUM ANALYZE jobs")


def unstage(url: str) -> None:
    """Put every staged job back to SUCCEEDED (whatever the scanner made of it)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            UPDATE videos SET status = 'READY', error_code = NULL, error_message = NULL
            WHERE id IN (SELECT video_id FROM jobs WHERE transition_by <> 'bench-seed'
                         AND state <> 'QUEUED')
            """
        )
        conn.execute(
            """
            UPDATE jobs SET state = 'SUCCEEDED', lease_token = NULL, leased_by = NULL,
                   leased_until = NULL, run_after = NULL, finished_at = updated_at,
                   transition_reason = 'completed', transition_by = 'bench-seed'
            WHERE transition_by <> 'bench-seed' AND state <> 'QUEUED'
            """
        )
        conn.execute("VACUUM ANALYZE jobs")


def expire_params(batch: int) -> dict[str, object]:
    return {"now": time.time(), "scanner": "bench:scanner", "batch": batch}


def explain(conn: Connection, name: str, params: dict[str, object]) -> list[str]:
    statement = text("EXPLAIN (ANALYZE, BUFFERS) " + query(name, "postgresql").text)
    lines = list(conn.execute(statement, params).scalars())
    conn.rollback()
    return lines


def execution_ms(plan: list[str]) -> float:
    return float(plan[-1].split(":")[1].split()[0])


def time_expire(url: str, total_rows: int, expired: int, batch: int) -> Timing:
    stage(url, expired)
    engine = make_engine(url, pool_size=1)
    try:
        walls, servers = [], []
        returned = 0
        with engine.connect() as conn:
            for _ in range(REPS):
                began = time.perf_counter()
                rows = conn.execute(
                    query("expire_stale_leases", "postgresql"), expire_params(batch)
                ).fetchall()
                walls.append((time.perf_counter() - began) * 1000)
                returned = len(rows)
                conn.rollback()
                servers.append(
                    execution_ms(explain(conn, "expire_stale_leases", expire_params(batch)))
                )
        # The whole repository call once, committed: the statement plus one video UPDATE per
        # expired lease and a NOTIFY, in one transaction.
        repo = JobRepository(engine)
        began = time.perf_counter()
        repo.expire_stale_leases("bench:scanner", batch=batch)
        repo_ms = (time.perf_counter() - began) * 1000
    finally:
        engine.dispose()
        unstage(url)
    return Timing(
        total_rows,
        expired,
        batch,
        returned,
        statistics.median(walls),
        statistics.median(servers),
        repo_ms,
    )


def claim_server_ms(url: str) -> float:
    """Median EXPLAIN ANALYZE execution time of claim_job over one warm session."""
    engine = make_engine(url, pool_size=1)
    times = []
    try:
        with engine.connect() as conn:
            for _ in range(REPS):
                params = {
                    "now": time.time(),
                    "ttl": 30.0,
                    "token": str(uuid.uuid4()),
                    "worker": "bench:claim",
                }
                times.append(execution_ms(explain(conn, "claim_job", params)))
    finally:
        engine.dispose()
    return statistics.median(times[1:])


def claim_cost(url: str) -> None:
    """claim_job as the backlog grows, with no RUNNING job and with 150 (over 100 tenants)."""
    print("claim_job server time (EXPLAIN ANALYZE, median, rolled back) by backlog:")
    print(f"  {'QUEUED':>8} {'0 RUNNING':>12} {'150 RUNNING':>12}")
    queued = QUEUED
    for backlog in (QUEUED, 1_000, 5_000):
        queue_jobs_bulk(url, backlog - queued, tenants=10)
        queued = backlog
        idle = claim_server_ms(url)
        stage(url, 100)
        try:
            busy = claim_server_ms(url)
        finally:
            unstage(url)
        print(f"  {backlog:>8,} {idle:9.2f} ms {busy:9.2f} ms", flush=True)
    print()


def print_plans(url: str) -> None:
    stage(url, 100)
    engine = make_engine(url, null_pool=True)
    try:
        with engine.connect() as conn:
            for name, params in (
                ("expire_stale_leases", expire_params(500)),
                (
                    "claim_job",
                    {
                        "now": time.time(),
                        "ttl": 30.0,
                        "token": str(uuid.uuid4()),
                        "worker": "bench:explain",
                    },
                ),
            ):
                explain(conn, name, params)  # warm the cache once, then show the second run
                print(
                    f"-- {name}: EXPLAIN (ANALYZE, BUFFERS), {100} expired + {LIVE_LEASES} "
                    f"live leases, {QUEUED} QUEUED, rest SUCCEEDED (rolled back) --"
                )
                for line in explain(conn, name, params):
                    print("  " + line)
                print()
    finally:
        engine.dispose()
        unstage(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k rows instead of 1M")
    args = parser.parse_args()
    big = 200_000 if args.quick else 1_000_000
    small = 10_000
    batch = 1000
    print_header(
        "lease scanner and claim plans over a large jobs history",
        {
            "large table": f"{big:,} SUCCEEDED jobs (+{QUEUED} QUEUED, +{LIVE_LEASES} live "
            "RUNNING leases)",
            "small table": f"{small:,} SUCCEEDED jobs (same extras)",
            "expire batch": f"{batch} (the repository's default is 500; 1000 keeps every "
            "expired lease in one statement)",
            "timing": f"median of {REPS} runs, each in a transaction rolled back; 'wall' is the "
            "client round trip, 'server' the EXPLAIN ANALYZE execution time",
        },
    )
    with throwaway_database("scan_big") as big_url, throwaway_database("scan_small") as small_url:
        timings: list[Timing] = []
        for url, rows in ((big_url, big), (small_url, small)):
            migrate(url)
            seeded = seed_finished_jobs(url, rows)
            queue_jobs_bulk(url, QUEUED, tenants=10)
            print(
                f"seeded {rows:,} finished jobs in {seeded:.1f} s (jobs triggers disabled "
                "during the bulk insert, then VACUUM ANALYZE)"
            )
        print()
        print_plans(big_url)
        for expired in (0, 10, 100, 1000):
            timings.append(time_expire(big_url, big, expired, batch))
        timings.append(time_expire(small_url, small, 100, batch))
        print("expire_stale_leases cost:")
        print(
            f"  {'total rows':>10} {'expired':>8} {'returned':>8} {'wall':>11} {'server':>11}"
            f" {'repo call':>11}"
        )
        for t in timings:
            print(
                f"  {t.total_rows:>10,} {t.expired:>8} {t.returned:>8} {t.wall_ms:8.2f} ms "
                f"{t.server_ms:8.2f} ms {t.repo_ms:8.1f} ms"
            )
        print("  ('repo call' = JobRepository.expire_stale_leases once, committed: the statement,")
        print("   one UPDATE videos per expired lease and a NOTIFY, in one transaction)")
        print()
        claim_cost(big_url)


if __name__ == "__main__":
    main()
