"""Scratch directories: one per attempt (`{job}-{n}` under the scratch root), removed when the
attempt ends, and swept when a worker starts for attempts whose worker died with them."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from pathlib import Path

from vodforge.domain.scaling import worker_of_lease
from vodforge.domain.states import JobState
from vodforge.jobs.repository import JobRepository

log = logging.getLogger(__name__)

SCRATCH_NAME = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(\d+)")


def scratch_dir(root: Path, job_id: str, attempt: int) -> Path:
    return root / f"{job_id}-{attempt}"


def sweep_stale_scratch(repo: JobRepository, root: Path, host: str | None = None) -> list[Path]:
    """Remove the scratch directories no live attempt is using; return them.

    A directory is kept only while its attempt is RUNNING (the same attempt number) under a
    holder that may still be writing to it: a worker on another host sharing this scratch
    root, or a live process on this one. A worker that was SIGKILLed leaves its directory
    behind with its job still RUNNING until the lease expires; its process id is dead, so the
    next worker to start on this host removes it at once.
    """
    host = host or socket.gethostname()
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return []
    removed = []
    for entry in entries:
        match = SCRATCH_NAME.fullmatch(entry.name)
        if match is None or not entry.is_dir():
            continue  # not an attempt's directory: not ours to judge
        job = repo.find_job(match.group(1))
        attempt = int(match.group(2))
        if (
            job is not None
            and job.state is JobState.RUNNING
            and job.attempt_count == attempt
            and not _dead_here(job.leased_by, host)
        ):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
        log.info("removed stale scratch directory %s", entry)
    return removed


def _dead_here(leased_by: str | None, host: str) -> bool:
    """True when the lease holder (`kind:host:pid:nonce[/slot]`, see new_worker_id) is a
    process of this host that no longer exists."""
    parts = worker_of_lease(leased_by or "").split(":")
    if len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False
