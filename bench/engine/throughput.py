"""No-op job throughput of vodforge's engine against procrastinate, on a 1M-row history.

Both sides run on the same PostgreSQL server and machine, each in its own throwaway database
pre-loaded with 1,000,000 finished jobs. Rounds alternate between the two sides; queueing
(defer) time is excluded and only the drain is timed.

vodforge "job":       claim_job (fair-claim UPDATE + video UPDATE) -> renew_lease (one
                      heartbeat UPDATE) -> complete_job (UPDATE + video UPDATE), three
                      transactions, two job_events rows written by the trigger.
procrastinate "job":  fetch_job (procrastinate_fetch_job_v2) -> async no-op task ->
                      finish_job (procrastinate_finish_job_v1), two calls, two
                      procrastinate_events rows written by its trigger.

    .venv/bin/python -m bench.engine.throughput [--quick] [--jobs N] [--threads K]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import psycopg
from sqlalchemy import event, text

from bench.engine.support import (
    load_average,
    migrate,
    print_header,
    queue_jobs_bulk,
    seed_finished_jobs,
    throwaway_database,
)
from vodforge.db.engine import make_engine
from vodforge.jobs.repository import JobRepository
from vodforge.jobs.sql import query

PACKAGE = {"prefix": "noop/"}


@dataclass(frozen=True)
class Round:
    side: str
    jobs: int
    seconds: float
    db_span_s: float

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds


# -- vodforge -------------------------------------------------------------------------------


def vodforge_round(url: str, jobs: int, threads: int) -> Round:
    queue_jobs_bulk(url, jobs, tenants=10)
    engine = make_engine(url, pool_size=threads)
    repo = JobRepository(engine, lease_ttl_s=30.0)
    done = [0] * threads
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def slot(n: int) -> None:
        worker = f"bench:{n}"
        start.wait()
        try:
            while (job := repo.claim_job(worker)) is not None:
                repo.renew_lease(job)
                repo.complete_job(job, PACKAGE)
                done[n] += 1
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=slot, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    since = time.time()
    start.wait()
    began = time.perf_counter()
    for thread in workers:
        thread.join()
    seconds = time.perf_counter() - began
    engine.dispose()
    if errors:
        raise errors[0]
    with psycopg.connect(url) as conn:
        left = conn.execute("SELECT count(*) FROM jobs WHERE state <> 'SUCCEEDED'").fetchone()
        span = conn.execute(
            "SELECT max(at) - min(at) FROM job_events WHERE at >= %s AND to_state <> 'QUEUED'",
            (since,),
        ).fetchone()
    assert left is not None and left[0] == 0, f"{left} jobs not SUCCEEDED"
    assert sum(done) == jobs, f"ran {sum(done)} of {jobs}"
    return Round("vodforge", jobs, seconds, float(span[0]) if span and span[0] else 0.0)


# -- procrastinate --------------------------------------------------------------------------


def seed_procrastinate(url: str, count: int) -> float:
    """Apply procrastinate's schema and insert `count` succeeded jobs (no trigger fires for
    status 'succeeded' on INSERT, so there are no history events for them either)."""
    import procrastinate

    started = time.perf_counter()
    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=url))
    with app.open():
        app.schema_manager.apply_schema()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args, status,
                                            attempts)
            SELECT 'default', 'bench_noop', 0, '{}', 'succeeded', 1
            FROM generate_series(1, %(count)s)
            """,
            {"count": count},
        )
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def procrastinate_round(url: str, jobs: int, concurrency: int) -> Round:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="bench_noop")
    async def bench_noop() -> None:
        return None

    async def run() -> float:
        async with app.open_async():
            for offset in range(0, jobs, 1000):
                await bench_noop.batch_defer_async(*({} for _ in range(min(1000, jobs - offset))))
            began = time.perf_counter()
            await app.run_worker_async(
                wait=False, concurrency=concurrency, install_signal_handlers=False
            )
            return time.perf_counter() - began

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT now()").fetchone()
    since = row[0] if row else None
    seconds = asyncio.run(run())
    with psycopg.connect(url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'"
        ).fetchone()
        span = conn.execute(
            "SELECT extract(epoch FROM max(at) - min(at)) FROM procrastinate_events"
            " WHERE at >= %s AND type <> 'deferred'",
            (since,),
        ).fetchone()
    assert left is not None and left[0] == 0, f"{left} procrastinate jobs left"
    return Round("procrastinate", jobs, seconds, float(span[0]) if span and span[0] else 0.0)


# -- where vodforge's time goes -----------------------------------------------------------


def profile_vodforge(url: str) -> None:
    """Drain what is QUEUED with one thread, timing each repository call and SQL statement."""
    engine = make_engine(url, pool_size=2)
    statements: Counter[str] = Counter()
    statement_s: Counter[str] = Counter()
    started: dict[int, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        started[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        key = " ".join(statement.split())[:60]
        statements[key] += 1
        statement_s[key] += time.perf_counter() - started.pop(id(cursor), time.perf_counter())

    pings = Counter[str]()

    @event.listens_for(engine, "engine_connect")
    def connected(conn):  # type: ignore[no-untyped-def]
        pings["checkouts"] += 1

    repo = JobRepository(engine, lease_ttl_s=30.0)
    calls: Counter[str] = Counter()
    began = time.perf_counter()
    ran = 0
    while True:
        t0 = time.perf_counter()
        job = repo.claim_job("bench:profile")
        t1 = time.perf_counter()
        calls["claim_job"] += t1 - t0
        if job is None:
            break
        repo.renew_lease(job)
        t2 = time.perf_counter()
        repo.complete_job(job, PACKAGE)
        t3 = time.perf_counter()
        calls["renew_lease"] += t2 - t1
        calls["complete_job"] += t3 - t2
        ran += 1
    total = time.perf_counter() - began
    engine.dispose()
    print(f"profile: 1 thread, {ran} jobs in {total:.2f} s = {ran / total:.0f} jobs/s")
    for name, spent in calls.items():
        print(f"  {name:<14} {spent / ran * 1e3:6.3f} ms/job (incl. BEGIN/COMMIT, pool checkout)")
    print("  per SQL statement (client-side wall, incl. round trip):")
    for key, count in statements.most_common():
        print(f"    {count / ran:4.1f}/job {statement_s[key] / count * 1e3:6.3f} ms each  {key}")
    print(f"  connection checkouts: {pings['checkouts'] / ran:.1f}/job")
    print()


def explain_claim(url: str, backlogs: list[int]) -> None:
    """The claim statement's server time as the backlog grows (each run rolled back)."""
    engine = make_engine(url, pool_size=1)
    statement = text("EXPLAIN (ANALYZE, BUFFERS) " + query("claim_job", "postgresql").text)
    queued = 0
    lines: list[str] = []
    for backlog in backlogs:
        queue_jobs_bulk(url, backlog - queued, tenants=10)
        queued = backlog
        times = []
        # One session throughout, so the trigger's plpgsql plan is warm after the first run.
        with engine.connect() as conn:
            for _ in range(6):
                params = {
                    "now": time.time(),
                    "ttl": 30.0,
                    "token": str(uuid.uuid4()),
                    "worker": "x",
                }
                lines = list(conn.execute(statement, params).scalars())
                conn.rollback()
                times.append(float(lines[-1].split(":")[1].split()[0]))
        times = times[1:]
        print(
            f"claim_job with {backlog:>6,} QUEUED (10 tenants): server execution time median "
            f"{statistics.median(times):.2f} ms of 5 (EXPLAIN ANALYZE, rolled back)"
        )
    engine.dispose()
    print(f"claim_job plan at {backlogs[-1]:,} QUEUED:")
    for line in lines:
        print("  " + line)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k history, 2,000 jobs, 1 round")
    parser.add_argument("--jobs", type=int, default=None, help="jobs per round (default 5000)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads / concurrency")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per side (default 3)")
    parser.add_argument("--history", type=int, default=None, help="finished jobs pre-loaded")
    args = parser.parse_args()
    history = args.history or (100_000 if args.quick else 1_000_000)
    jobs = args.jobs or (2_000 if args.quick else 5_000)
    rounds = args.rounds or (1 if args.quick else 3)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    print_header(
        "engine throughput: vodforge vs procrastinate (no-op jobs)",
        {
            "finished jobs pre-loaded per side": f"{history:,}",
            "jobs drained per round": f"{jobs:,}",
            "rounds per side (interleaved)": rounds,
            "vodforge": f"{args.threads} threads sharing one JobRepository "
            f"(SQLAlchemy pool {args.threads}+{args.threads}), loop claim_job -> renew_lease "
            "-> complete_job until claim_job returns None; jobs over 10 tenants",
            "procrastinate": f"app.run_worker_async(wait=False, concurrency={args.threads}), "
            "async no-op task, default options (delete_jobs='never', listen_notify=True)",
            "timed": "worker start -> queue drained (defer/queue time excluded); "
            "'db span' = first start event -> last finish event in the events table",
        },
    )
    with throwaway_database("tp_vf") as vf_url, throwaway_database("tp_pc") as pc_url:
        migrate(vf_url)
        seeded = seed_finished_jobs(vf_url, history)
        print(
            f"seeded vodforge: {history:,} SUCCEEDED jobs in {seeded:.1f} s "
            "(jobs triggers disabled during the bulk insert, then VACUUM ANALYZE)"
        )
        seeded = seed_procrastinate(pc_url, history)
        print(
            f"seeded procrastinate: {history:,} succeeded jobs in {seeded:.1f} s "
            "(schema_manager.apply_schema, then VACUUM ANALYZE)"
        )
        print(flush=True)
        results: list[Round] = []
        for n in range(rounds):
            order = ("vodforge", "procrastinate") if n % 2 == 0 else ("procrastinate", "vodforge")
            for side in order:
                result = (
                    vodforge_round(vf_url, jobs, args.threads)
                    if side == "vodforge"
                    else procrastinate_round(pc_url, jobs, args.threads)
                )
                results.append(result)
                print(
                    f"round {n + 1} {side:<13} {result.jobs:,} jobs in {result.seconds:6.2f} s"
                    f" = {result.jobs_per_s:7.0f} jobs/s  (db span {result.db_span_s:6.2f} s,"
                    f" load {load_average()})",
                    flush=True,
                )
        medians = {
            side: statistics.median(r.jobs_per_s for r in results if r.side == side)
            for side in ("vodforge", "procrastinate")
        }
        print()
        print(f"median vodforge:      {medians['vodforge']:7.0f} jobs/s")
        print(f"median procrastinate: {medians['procrastinate']:7.0f} jobs/s")
        print(f"ratio vodforge/procrastinate: {medians['vodforge'] / medians['procrastinate']:.2f}")
        print()
        explain_claim(vf_url, [100, 1_000, jobs])
        profile_vodforge(vf_url)


if __name__ == "__main__":
    main()
