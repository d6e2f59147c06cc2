"""The storage sweep: removes attempt prefixes that no job owns any more.

Every attempt writes under `videos/{video}/attempts/{job}-{n}/` and a finished attempt tidies up
after itself, but an attempt that was killed mid-upload, or a fenced-out zombie that kept
uploading after it lost its lease, leaves files nobody will ever read. The scheduler runs this
sweep now and then. An attempt prefix is kept when the video's published package refers to it,
when its job is RUNNING now (whatever the attempt: a zombie of a running job is left for a later
sweep rather than judged mid-flight), or when any of its objects is younger than the grace age,
so an attempt that is uploading right now is never swept.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Engine, or_, select

from vodforge.db.access import reading
from vodforge.db.tables import jobs, videos
from vodforge.domain.states import JobState
from vodforge.storage.base import ObjectInfo, Storage

log = logging.getLogger(__name__)

# videos/{video}/attempts/{job}-{n}/: the layout storage.base.attempt_prefix writes.
ATTEMPT_PREFIX = re.compile(r"videos/([^/]+)/attempts/([^/]+)-(\d+)/")
# Ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
BATCH = 500


class AttemptSweep:
    def __init__(
        self,
        engine: Engine,
        storage: Storage,
        *,
        grace_s: float = 3600.0,
        every_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.grace_s = grace_s
        self.every_s = every_s
        # Wall-clock time, as storage stamps its objects (not the database clock).
        self.clock = clock
        self._last_run: float | None = None

    def maybe_sweep(self) -> list[str]:
        """Sweep when the last sweep is `every_s` old (the scheduler calls this each tick)."""
        now = self.clock()
        if self._last_run is not None and now - self._last_run < self.every_s:
            return []
        self._last_run = now
        return self.sweep()

    def sweep(self) -> list[str]:
        """Delete every unowned attempt prefix older than the grace age; return them."""
        now = self.clock()
        newest = newest_write_per_attempt(self.storage.list_objects("videos/"), now)
        old_enough = {prefix for prefix, at in newest.items() if now - at >= self.grace_s}
        doomed = sorted(old_enough - owned_attempts(self.engine, old_enough))
        swept = []
        for prefix in doomed:
            try:
                removed = self.storage.delete_prefix(prefix)
            except Exception as exc:
                log.warning("sweeping %s failed: %s", prefix, exc)
                continue
            swept.append(prefix)
            log.info("swept %d object(s) of unowned attempt %s", removed, prefix)
        return swept


def newest_write_per_attempt(
    objects: Iterable[tuple[str, ObjectInfo]], now: float
) -> dict[str, float]:
    """Attempt prefix -> when its newest object was written. An object whose time the
    backend does not know counts as written now: never swept on a guess."""
    newest: dict[str, float] = {}
    for key, info in objects:
        match = ATTEMPT_PREFIX.match(key)
        if match is None or not (_is_uuid(match.group(1)) and _is_uuid(match.group(2))):
            continue  # sources, and anything not laid out by vodforge, are not the sweep's
        written = info.modified if info.modified is not None else now
        prefix = match.group(0)
        newest[prefix] = max(written, newest.get(prefix, written))
    return newest


def owned_attempts(engine: Engine, prefixes: set[str]) -> set[str]:
    """The prefixes among `prefixes` that a RUNNING job, a live family or a published package
    owns. A chunk or audio job's parts wait, SUCCEEDED, for the stitch that copies them: while
    its parent is RUNNING (the family has not published or failed), they are owned, however
    long the family takes (a long video, or a stitch retrying through a storage outage).

    Jobs are read before packages: a job that completes between the two reads was seen
    RUNNING, or its package is seen published, so a just-published attempt is owned either
    way (the grace age covers it too).
    """
    parsed = [m for m in (ATTEMPT_PREFIX.fullmatch(p) for p in prefixes) if m is not None]
    job_ids = sorted({m.group(2) for m in parsed})
    video_ids = sorted({m.group(1) for m in parsed})
    running: set[str] = set()
    published: set[str] = set()
    with reading(engine) as conn:
        parent = jobs.alias("parent")
        for chunk in _chunks(job_ids):
            running.update(
                str(job_id)
                for job_id in conn.execute(
                    select(jobs.c.id)
                    .outerjoin(parent, parent.c.id == jobs.c.parent_id)
                    .where(
                        jobs.c.id.in_(chunk),
                        or_(
                            jobs.c.state == JobState.RUNNING.value,
                            parent.c.state == JobState.RUNNING.value,
                        ),
                    )
                ).scalars()
            )
        for chunk in _chunks(video_ids):
            for package in conn.execute(
                select(videos.c.package).where(
                    videos.c.id.in_(chunk), videos.c.package.is_not(None)
                )
            ).scalars():
                published.update(referenced_attempts(json.loads(package)))
    return {m.group(0) for m in parsed if m.group(2) in running or m.group(0) in published}


def referenced_attempts(package: Any) -> set[str]:
    """Every attempt prefix a package's keys point into: its own, and any other attempt whose
    files it reuses (a package stitched from chunk jobs' segments, for one)."""
    found: set[str] = set()
    stack = [package]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            found.update(match.group(0) for match in ATTEMPT_PREFIX.finditer(value))
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), BATCH):
        yield values[start : start + BATCH]
