"""Video use cases shared by the CLI and the API; every call is scoped to a tenant when given.

A video of another tenant, and a deleted video, is NotFound on every path.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vodforge.domain.states import CLAIMABLE_JOB_STATES, VideoStatus
from vodforge.errors import Conflict, InputRejected, InvalidRequest, NotFound, PayloadTooLarge
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.records import JobEvent, JobRecord, VideoRecord
from vodforge.jobs.repository import JobRepository
from vodforge.playback.signing import PlaybackSigner
from vodforge.storage.base import Storage, content_type_for, source_key, video_prefix
from vodforge.telemetry.base import Telemetry
from vodforge.tenants.repository import Tenant, TenantRepository
from vodforge.videos.progress import family_progress
from vodforge.videos.repository import PageKey, VideoRepository
from vodforge.videos.views import video_json

log = logging.getLogger(__name__)

MAX_PAGE = 100
MAX_TITLE = 500
UPLOAD_URL_TTL_S = 3600


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


@dataclass(frozen=True)
class DirectUpload:
    video: dict[str, Any]
    upload_url: str
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "upload": {"method": "PUT", "url": self.upload_url, "expires_at": self.expires_at},
        }


def encode_cursor(key: PageKey) -> str:
    raw = json.dumps([key.created_at, key.video_id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> PageKey:
    """The page key a cursor of encode_cursor carries; InvalidRequest for anything else (a
    forged cursor can only name a position in the caller's own list: the tenant filter stays)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, video_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        # Only what encode_cursor writes: a finite number (not a bool, NaN or Infinity) and
        # a video id in its canonical form.
        if isinstance(created_at, bool) or not isinstance(created_at, int | float):
            raise ValueError(created_at)
        if not math.isfinite(created_at) or str(uuid.UUID(video_id)) != video_id:
            raise ValueError(video_id)
        return PageKey(float(created_at), video_id)
    except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error):
        raise InvalidRequest(f"cursor {cursor[:80]!r} is not one this API returned") from None


def check_title(title: str) -> str:
    title = title.strip()
    if not title or len(title) > MAX_TITLE or any(ord(ch) < 0x20 for ch in title):
        raise InvalidRequest(f"a title is 1-{MAX_TITLE} printable characters")
    return title


def source_extension(filename: str | None) -> str:
    """The source key's extension from an uploaded file name; only a short alphanumeric one
    is kept (a name is never part of a key, so it cannot steer where bytes are stored)."""
    suffix = Path(filename or "").suffix.lower().lstrip(".")
    return suffix if suffix.isalnum() and len(suffix) <= 8 else "bin"


def check_filename(filename: str) -> str:
    """An uploaded file's name, checked when the upload starts rather than when its last byte
    has come: text without control characters, as a title (it may become one). Any other
    character is fine: the name never becomes a path or a storage key."""
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in filename):
        raise InvalidRequest("the file name has control characters")
    return filename


class VideoService:
    def __init__(
        self,
        *,
        jobs: JobRepository,
        videos: VideoRepository,
        tenants: TenantRepository,
        storage: Storage,
        telemetry: Telemetry,
        dispatcher: Dispatcher,
        signer: PlaybackSigner,
        max_upload_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jobs = jobs
        self.videos = videos
        self.tenants = tenants
        self.storage = storage
        self.telemetry = telemetry
        self.dispatcher = dispatcher
        self.signer = signer
        self.max_upload_bytes = max_upload_bytes
        self.clock = clock

    # -- reads -----------------------------------------------------------------------------

    def get(self, video_id: str, tenant: Tenant | None = None) -> VideoRecord:
        _check_id(video_id)
        return self.videos.get_video(video_id, tenant.id if tenant else None)

    def describe(self, video: VideoRecord, tenant_name: str | None = None) -> dict[str, Any]:
        """The video JSON of SPEC §4."""
        job = self.jobs.find_job(video.current_job_id) if video.current_job_id else None
        return self.describe_with_job(video, job, tenant_name)

    def describe_with_job(
        self, video: VideoRecord, job: JobRecord | None, tenant_name: str | None = None
    ) -> dict[str, Any]:
        """The video JSON of SPEC §4, for a video whose current job is already read."""
        if tenant_name is None:
            tenant_name = self.tenants.names({video.tenant_id}).get(video.tenant_id, "")
        progress = None
        if job is not None and job.waiting_on_children:
            progress = family_progress(
                self.jobs.family_parts(job.id),
                lambda child_id: self.telemetry.read_progress(video.tenant_id, child_id),
            )
        elif video.status in (VideoStatus.UPLOADED, VideoStatus.PROCESSING):
            progress = self.telemetry.read_progress(video.tenant_id, video.id)
        playback = thumbnail = None
        package = video.package
        # A package without a master (work that publishes no HLS, as in engine tests) has
        # nothing to play; describing it must not fail.
        if video.status is VideoStatus.READY and package and package.get("master"):
            prefix = package["prefix"]
            playback = self.signer.url(video.id, prefix, _relative(package["master"], prefix))
            if package.get("thumbnail"):
                thumbnail = self.signer.url(
                    video.id, prefix, _relative(package["thumbnail"], prefix)
                )
        data = video_json(
            video,
            tenant_name=tenant_name,
            job=job,
            progress=progress,
            playback_url=playback,
            thumbnail_url=thumbnail,
        )
        if job is not None and job.state in CLAIMABLE_JOB_STATES:
            data["queue_position"] = self.videos.queue_position(job.id)
        return data

    def show(self, video_id: str, tenant: Tenant | None = None) -> dict[str, Any]:
        """One video's JSON; the video and its job are one read."""
        _check_id(video_id)
        found = self.videos.find_video_with_job(video_id, tenant.id if tenant else None)
        if found is None:
            raise NotFound(f"video {video_id} not found")
        video, job = found
        return self.describe_with_job(video, job, tenant.name if tenant else None)

    def page(self, tenant: Tenant | None, *, limit: int = 50, cursor: str | None = None) -> Page:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        after = decode_cursor(cursor) if cursor else None
        rows = self.videos.list_videos_with_jobs(tenant.id if tenant else None, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        names = (
            {tenant.id: tenant.name}
            if tenant
            else self.tenants.names({video.tenant_id for video, _ in rows})
        )
        items = [
            self.describe_with_job(video, job, names.get(video.tenant_id, ""))
            for video, job in rows
        ]
        last = rows[-1][0] if rows else None
        next_cursor = encode_cursor(PageKey(last.created_at, last.id)) if more and last else None
        return Page(items, next_cursor)

    def events(self, video_id: str, tenant: Tenant | None = None) -> list[JobEvent]:
        video = self.get(video_id, tenant)
        return self.videos.video_events(video.id)

    # -- uploads: every path ends in accept_source ------------------------------------------

    def submit_file(self, path: Path, tenant: Tenant, title: str | None = None) -> VideoRecord:
        """The CLI's upload: copy a local file into storage and queue it."""
        if not path.is_file():
            raise InputRejected(f"{path} is not a readable file")
        size = path.stat().st_size
        self.check_upload_size(size)
        video_id = str(uuid.uuid4())
        key = source_key(video_id, source_extension(path.name))
        self.storage.put_file(key, path)
        return self._queue_new(video_id, tenant, title or path.name, key, size)

    def accept_staged_upload(
        self, staged: Path, tenant: Tenant, *, filename: str | None, title: str | None
    ) -> VideoRecord:
        """A multipart or tus upload that has fully arrived in a staging file: it moves into
        storage, and the video is UPLOADED with its job QUEUED and dispatched."""
        size = staged.stat().st_size
        self.check_upload_size(size)
        video_id = str(uuid.uuid4())
        key = source_key(video_id, source_extension(filename))
        self.storage.move_file(key, staged)
        name = check_title(title or filename or "untitled")
        return self._queue_new(video_id, tenant, name, key, size)

    def _queue_new(
        self, video_id: str, tenant: Tenant, title: str, key: str, size: int
    ) -> VideoRecord:
        _, job_id = self.jobs.create_video_and_job(
            tenant.id, check_title(title), source_key=key, source_bytes=size, video_id=video_id
        )
        self.dispatcher.dispatch(job_id)
        return self.videos.get_video(video_id)

    def check_upload_size(self, size: int) -> None:
        if size > self.max_upload_bytes:
            raise PayloadTooLarge(
                f"the upload is {size} bytes; the limit is {self.max_upload_bytes} bytes"
            )

    def start_direct_upload(
        self, tenant: Tenant, *, title: str, size: int, filename: str | None = None
    ) -> DirectUpload:
        """A PENDING_UPLOAD video and a URL the client PUTs the source to (S3 storage)."""
        if size <= 0:
            raise InvalidRequest("size must be a positive number of bytes")
        self.check_upload_size(size)
        video_id = str(uuid.uuid4())
        key = source_key(video_id, source_extension(filename))
        url = self.storage.presigned_put_url(key, UPLOAD_URL_TTL_S, content_type_for(key))
        if url is None:
            raise Conflict(
                "direct uploads need S3 storage; upload with POST /v1/videos or tus instead"
            )
        expires_at = self.clock() + UPLOAD_URL_TTL_S
        self.videos.insert_pending_upload(
            video_id,
            tenant.id,
            check_title(title),
            source_key=key,
            source_bytes=size,
            expires_at=expires_at,
        )
        return DirectUpload(self.show(video_id, tenant), url, expires_at)

    def complete_direct_upload(self, video_id: str, tenant: Tenant) -> dict[str, Any]:
        """The client says its PUT finished: check the object is there with the announced
        size, then queue it like any other upload."""
        video = self.get(video_id, tenant)
        if video.status is not VideoStatus.PENDING_UPLOAD:
            raise Conflict(f"video {video_id} is {video.status.value}, not PENDING_UPLOAD")
        assert video.source_key is not None
        try:
            stored = self.storage.size(video.source_key)
        except NotFound:
            raise Conflict("the upload has not arrived: PUT the file to the upload URL") from None
        if stored != video.source_bytes:
            raise Conflict(
                f"the uploaded object has {stored} bytes, {video.source_bytes} announced"
            )
        job_id = self.jobs.queue_pending_upload(video.id, tenant.id, stored)
        self.dispatcher.dispatch(job_id)
        return self.show(video.id, tenant)

    # -- changes -----------------------------------------------------------------------------

    def cancel(self, video_id: str, tenant: Tenant | None = None, actor: str = "user") -> None:
        video = self.get(video_id, tenant)
        self.jobs.cancel_video(video.id, actor=actor)

    def retry(self, video_id: str, tenant: Tenant | None = None) -> None:
        video = self.get(video_id, tenant)
        job_id = self.jobs.retry_video(video.id)
        self.dispatcher.dispatch(job_id)

    def delete(self, video_id: str, tenant: Tenant | None = None) -> dict[str, Any]:
        """Delete in any state: the video is gone from every read at once; a live job is
        cancelled, and the stored objects and rows go as soon as no job of it can write."""
        video = self.get(video_id, tenant)
        job = self.jobs.find_job(video.current_job_id) if video.current_job_id else None
        if job is not None and not job.state.is_terminal:
            # Conflict: it ended in between, so there is nothing left to stop.
            with contextlib.suppress(Conflict):
                self.jobs.cancel_video(video.id, actor="delete")
        self.videos.mark_deleted(video.id)
        removed = self.purge(video.id)
        return {"ok": True, "id": video.id, "purged": removed is not None, "objects": removed}

    def purge(self, video_id: str) -> int | None:
        """Remove a deleted video's objects and rows once no job of it can still write;
        None while one still can (the scheduler comes back for it)."""
        live = [j for j in self.jobs.jobs_of_video(video_id) if not j.state.is_terminal]
        if live:
            return None
        removed = self.storage.delete_prefix(video_prefix(video_id))
        self.videos.purge(video_id)
        return removed

    def purge_deleted(self) -> list[str]:
        """The scheduler's pass: finish deletes whose jobs have stopped, and drop direct
        uploads that were never completed."""
        done = []
        for video_id in self.videos.abandoned_uploads(self.clock()):
            try:
                self.videos.mark_deleted(video_id)
            except NotFound:
                continue
        for video_id in self.videos.deleted_and_settled():
            try:
                if self.purge(video_id) is not None:
                    done.append(video_id)
            except Exception as exc:
                log.warning("purging deleted video %s failed: %s", video_id, exc)
        return done


def _relative(key: str, prefix: str) -> str:
    return key[len(prefix) :] if key.startswith(prefix) else key


def _check_id(video_id: str) -> None:
    try:
        uuid.UUID(video_id)
    except ValueError:
        raise NotFound(f"video {video_id[:80]!r} not found") from None
