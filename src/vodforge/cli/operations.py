"""Operator maintenance: backlog, scan-stuck, reconcile, dead-letter, db upgrade. Each prints
one JSON object with --json and a short human summary otherwise; a --dry-run answers with the
same keys as the real run, so a script reads both alike."""

from __future__ import annotations

import argparse

from vodforge.bootstrap import Components
from vodforge.cli.output import emit
from vodforge.cli.runtime import make_scheduler
from vodforge.operations.deadletter import report_dead_letter
from vodforge.operations.reconcile import apply_fix, plan_reconcile
from vodforge.settings import Settings


def cmd_backlog(components: Components, args: argparse.Namespace) -> int:
    data = components.repo.backlog().to_json()
    emit(
        data,
        as_json=args.json,
        text=f"backlog {data['backlog']} (queued {data['queued']}, "
        f"retry_wait {data['retry_wait']}), running {data['running']}",
    )
    return 0


def cmd_scan_stuck(components: Components, args: argparse.Namespace) -> int:
    if args.dry_run:
        count = components.repo.stale_lease_count()
        recovered = []
    else:
        scheduler, _ = make_scheduler(components)
        recovered = [
            {
                "job_id": e.job_id,
                "video_id": e.video_id,
                "state": e.state.value,
                "attempt": e.attempt_count,
            }
            for e in scheduler.expire_stale_leases()
        ]
        count = len(recovered)
    lines = [
        f"{count} RUNNING job(s) with an expired lease (dry run: nothing changed)"
        if args.dry_run
        else f"recovered {count} RUNNING job(s) with an expired lease"
    ]
    lines += [f"  job {r['job_id']} -> {r['state']} (attempt {r['attempt']})" for r in recovered]
    emit(
        {"dry_run": args.dry_run, "expired_leases": count, "recovered": recovered},
        as_json=args.json,
        text="\n".join(lines),
    )
    return 0


def cmd_reconcile(components: Components, args: argparse.Namespace) -> int:
    fixes = plan_reconcile(components.repo, components.executor)
    if not args.dry_run:
        for fix in fixes:
            apply_fix(components.repo, components.dispatcher, fix)
        # Repairs queue jobs: hand them to the executor now rather than at the next tick.
        components.dispatcher.dispatch_due()
    plan = [fix.to_json() for fix in fixes]
    heading = f"{len(plan)} fix(es)" if plan else "nothing to repair"
    heading += " (dry run: nothing changed)" if args.dry_run and plan else ""
    lines = [heading] + [f"  {f['fix']} {f['video_id']}: {f['why']}" for f in plan]
    emit({"dry_run": args.dry_run, "fixes": plan}, as_json=args.json, text="\n".join(lines))
    return 0


def cmd_dead_letter(components: Components, args: argparse.Namespace) -> int:
    result = report_dead_letter(components.repo, args.job_id, actor="cli")
    if "marked" in result:
        text = f"job {args.job_id} marked {result['marked']}"
    elif "skipped" in result:
        text = f"job {args.job_id} left {result['state']} ({result['skipped']})"
    else:
        text = f"job {args.job_id}: {result.get('error')} (now {result['state']})"
    emit(result, as_json=args.json, text=text)
    return 0


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from vodforge.db.engine import make_engine
    from vodforge.db.migrate import current_revision, upgrade

    engine = make_engine(settings.database_url, null_pool=True)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    finally:
        engine.dispose()
    emit({"revision": revision}, as_json=args.json, text=f"database at revision {revision}")
    return 0
