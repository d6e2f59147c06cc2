"""The fault table: one row per injected fault, printed at the end of a run and kept in the
README (issue 10's columns: jobs, faults injected, READY, FAILED with codes, lost,
double-published, recovery; plus the API load's requests, errors, 503s and p99)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable

from tests.faults.harness.rig import Row

HEADER = (
    "| fault | injected | jobs | READY | FAILED (codes) | lost | double-published "
    "| retried (why) | work resumed after | scratch left "
    "| API requests | API errors | 503s | API p99 |"
)


def row_line(row: Row) -> str:
    recovery = "–" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
    return (
        f"| {row.fault.name}: {row.fault.what} | {row.injection.count} | {row.jobs} "
        f"| {row.outcome.ready} | {row.outcome.failed_text} | {len(row.outcome.lost)} "
        f"| {len(row.outcome.double_published)} | {row.outcome.retried_text} | {recovery} "
        f"| {row.scratch_left} "
        f"| {row.load.requests} | {row.load.errors} | {row.load.unavailable} "
        f"| {row.load.p99_ms:.0f} ms |"
    )


def render(rows: Iterable[Row], totals: dict[str, int] | None = None) -> str:
    rows = list(rows)
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    lines += [row_line(row) for row in rows]
    if totals:
        lines.append(
            f"| **all** | {totals['injected']} | {totals['jobs']} | {totals['ready']} "
            f"| {totals['failed']} | {totals['lost']} | {totals['double']} | "
            f"{totals['retried']} | | {totals['scratch']} | {totals['requests']} "
            f"| {totals['errors']} | {totals['unavailable']} | |"
        )
    return "\n".join(lines)


def totals(rows: Iterable[Row]) -> dict[str, int]:
    rows = list(rows)
    return {
        "injected": sum(r.injection.count for r in rows),
        "jobs": sum(r.jobs for r in rows),
        "ready": sum(r.outcome.ready for r in rows),
        "failed": sum(sum(r.outcome.failed.values()) for r in rows),
        "lost": sum(len(r.outcome.lost) for r in rows),
        "double": sum(len(r.outcome.double_published) for r in rows),
        "retried": sum(sum(r.outcome.retried.values()) for r in rows),
        "scratch": sum(r.scratch_left for r in rows),
        "requests": sum(r.load.requests for r in rows),
        "errors": sum(r.load.errors for r in rows),
        "unavailable": sum(r.load.unavailable for r in rows),
    }


def findings(row: Row) -> list[str]:
    """What breaks the product's promise in this row (empty: the fault was survived)."""
    found = [f"lost {v}" for v in row.outcome.lost]
    found += [f"double-published {v}" for v in row.outcome.double_published]
    found += [f"package {p}" for p in row.package_problems]
    found += [f"process died: {d}" for d in row.deaths]
    found += [f"API {failure}" for failure in row.api_failures]
    if row.scratch_left:
        found.append(f"{row.scratch_left} entries left in scratch")
    return found


SUMMARY_HEADER = (
    "| fault | episodes | injected | jobs | READY | FAILED | lost | double-published "
    "| retried (why) | work resumed after (median / max) | API requests | API errors | 503s "
    "| API p99 (worst episode) |"
)


def summarize(rows: Iterable[Row]) -> str:
    """One line per fault over every episode of it (the soak's table for the README)."""
    by_fault: dict[str, list[Row]] = {}
    for row in rows:
        by_fault.setdefault(row.fault.name, []).append(row)
    lines = [SUMMARY_HEADER, "|" + "---|" * SUMMARY_HEADER.count(" | ") + "---|"]
    for name, group in by_fault.items():
        retried: Counter[str] = Counter()
        for row in group:
            retried.update(row.outcome.retried)
        resumed = sorted(r.recovery_s for r in group if r.recovery_s is not None)
        resume = f"{statistics.median(resumed):.1f} s / {resumed[-1]:.1f} s" if resumed else "–"
        failed = sum(sum(r.outcome.failed.values()) for r in group)
        lines.append(
            f"| {name}: {group[0].fault.what} | {len(group)} "
            f"| {sum(r.injection.count for r in group)} | {sum(r.jobs for r in group)} "
            f"| {sum(r.outcome.ready for r in group)} | {failed} "
            f"| {sum(len(r.outcome.lost) for r in group)} "
            f"| {sum(len(r.outcome.double_published) for r in group)} "
            f"| {', '.join(f'{w} {n}' for w, n in sorted(retried.items())) or '0'} | {resume} "
            f"| {sum(r.load.requests for r in group)} | {sum(r.load.errors for r in group)} "
            f"| {sum(r.load.unavailable for r in group)} "
            f"| {max(r.load.p99_ms for r in group):.0f} ms |"
        )
    return "\n".join(lines)
