"""What a fault did to the jobs, read from the database after it: how each video ended, which
were lost (never terminal, or accepted by the API and missing), which were published more than
once, why attempts were retried (a lapsed lease the scanner recovered among them), and how soon
work resumed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from vodforge.db.access import reading
from vodforge.db.tables import job_events, jobs, videos
from vodforge.domain.states import VideoStatus

TERMINAL = {VideoStatus.READY.value, VideoStatus.FAILED.value}


@dataclass
class Outcome:
    ready: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # error code -> videos
    lost: list[str] = field(default_factory=list)  # "<video id>: <why>"
    double_published: list[str] = field(default_factory=list)
    retried: Counter[str] = field(default_factory=Counter)  # why attempts were retried

    @property
    def retried_text(self) -> str:
        return ", ".join(f"{why} {n}" for why, n in sorted(self.retried.items())) or "0"

    @property
    def failed_text(self) -> str:
        return ", ".join(f"{code} {n}" for code, n in sorted(self.failed.items())) or "0"


def statuses(engine: Engine, video_ids: list[str]) -> dict[str, str]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(videos.c.id, videos.c.status).where(videos.c.id.in_(video_ids))
        ).all()
    return {str(video_id): status for video_id, status in rows}


def all_terminal(engine: Engine, video_ids: list[str]) -> bool:
    found = statuses(engine, video_ids)
    return len(found) == len(set(video_ids)) and all(s in TERMINAL for s in found.values())


def outcome(engine: Engine, video_ids: list[str], since: float) -> Outcome:
    """How `video_ids` ended, and why their attempts were retried after `since`."""
    result = Outcome()
    with reading(engine) as conn:
        rows = {
            str(row.id): row
            for row in conn.execute(
                select(videos.c.id, videos.c.status, videos.c.error_code).where(
                    videos.c.id.in_(video_ids)
                )
            )
        }
        # A publish is a top-level job (a plain transcode, or a family's parent) reaching
        # SUCCEEDED: the transition that makes the video READY with its package.
        publishes = Counter(
            {
                str(video_id): n
                for video_id, n in conn.execute(
                    select(jobs.c.video_id, func.count())
                    .select_from(job_events.join(jobs, jobs.c.id == job_events.c.job_id))
                    .where(jobs.c.video_id.in_(video_ids))
                    .where(jobs.c.parent_id.is_(None))
                    .where(job_events.c.to_state == "SUCCEEDED")
                    .group_by(jobs.c.video_id)
                )
            }
        )
        # Every attempt that ended and was queued again: a lapsed lease (the scanner's
        # "lease expired") or a failure classified retryable ("<CODE>: <message>").
        retries = conn.execute(
            select(job_events.c.reason)
            .select_from(job_events.join(jobs, jobs.c.id == job_events.c.job_id))
            .where(jobs.c.video_id.in_(video_ids))
            .where(job_events.c.at >= since)
            .where(job_events.c.from_state == "RUNNING")
            .where(job_events.c.to_state.in_(("RETRY_WAIT", "QUEUED", "DEAD")))
        ).scalars()
        for reason in retries:
            why = (reason or "?").split(":", 1)[0]
            result.retried[why] += 1
    for video_id in dict.fromkeys(video_ids):
        row = rows.get(video_id)
        if row is None:
            result.lost.append(f"{video_id}: accepted by the API, not in the database")
            continue
        if row.status == VideoStatus.READY.value:
            result.ready += 1
        elif row.status == VideoStatus.FAILED.value:
            result.failed[row.error_code or "?"] += 1
        else:
            result.lost.append(f"{video_id}: still {row.status}")
        expected = 1 if row.status == VideoStatus.READY.value else 0
        if publishes[video_id] > expected:
            result.double_published.append(f"{video_id}: published {publishes[video_id]} times")
    return result


def first_event_after(engine: Engine, moment: float) -> float | None:
    """When the first job transition after `moment` happened: work had resumed."""
    with reading(engine) as conn:
        at = conn.execute(select(func.min(job_events.c.at)).where(job_events.c.at > moment))
        value = at.scalar_one()
    return float(value) if value is not None else None
