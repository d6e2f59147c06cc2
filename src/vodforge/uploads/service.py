"""Upload use cases: staging files for streamed multipart bodies, tus uploads from creation to
their video, and the scheduler's removal of what clients abandoned.

Every upload that arrives ends in VideoService.accept_staged_upload: the video is UPLOADED, its
job QUEUED and dispatched, exactly as for the CLI and for direct uploads.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from vodforge.errors import Conflict, InvalidRequest, PayloadTooLarge
from vodforge.tenants.repository import Tenant
from vodforge.uploads.tus import (
    TusStore,
    TusUpload,
    header_number,
    metadata_text,
    parse_metadata,
)
from vodforge.videos.service import VideoService, check_filename, check_title

log = logging.getLogger(__name__)


class UploadService:
    def __init__(
        self,
        *,
        videos: VideoService,
        root: Path,
        expiry_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.videos = videos
        self.staging_dir = Path(root) / "staging"
        self.tus = TusStore(Path(root) / "tus", expiry_s=expiry_s, clock=clock)
        self.expiry_s = expiry_s
        self.clock = clock

    @property
    def max_upload_bytes(self) -> int:
        return self.videos.max_upload_bytes

    # -- multipart -------------------------------------------------------------------------

    def new_staging_file(self) -> Path:
        """A fresh path for one request's upload; the request removes it on every exit."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        return self.staging_dir / f"{uuid.uuid4().hex}.part"

    def accept_staged(
        self, staged: Path, tenant: Tenant, *, filename: str | None, title: str | None
    ) -> dict[str, Any]:
        """A whole multipart upload: into storage and queued; the video JSON."""
        # Checked before the file moves: a refused name must not leave a stored object behind.
        check_title(title or filename or "untitled")
        video = self.videos.accept_staged_upload(staged, tenant, filename=filename, title=title)
        return self.videos.describe(video, tenant.name)

    # -- tus -------------------------------------------------------------------------------

    def create_tus(self, tenant: Tenant, *, length: str | None, metadata: str | None) -> TusUpload:
        if length is None:
            raise InvalidRequest("Upload-Length is required (deferred lengths are not supported)")
        size = header_number(length, "Upload-Length")
        if size < 1:
            raise InvalidRequest("Upload-Length must be at least 1 byte")
        self.videos.check_upload_size(size)
        # Refuse a bad name now rather than after the client has sent every byte: both names,
        # since the last PATCH reads both (a bad filename behind a good title failed it).
        parsed = parse_metadata(metadata)
        title = metadata_text(parsed, "title")
        filename = metadata_text(parsed, "filename")
        if filename is not None:
            check_filename(filename)
        check_title(title or filename or "untitled")
        return self.tus.create(tenant.id, size, metadata)

    def tus_upload(self, upload_id: str, tenant: Tenant) -> TusUpload:
        return self.tus.find(upload_id, tenant.id)

    @contextlib.contextmanager
    def tus_patch(self, upload_id: str, tenant: Tenant, offset: int) -> Iterator[TusPatch]:
        """Hold the upload for one PATCH whose body starts at `offset`."""
        with self.tus.locked(upload_id, tenant.id) as upload:
            if offset != upload.offset:
                raise Conflict(
                    f"Upload-Offset is {offset} but the server holds {upload.offset} bytes:"
                    " HEAD the upload and resume from there"
                )
            patch = TusPatch(self, upload, tenant)
            try:
                yield patch
            finally:
                patch.close()

    def terminate_tus(self, upload_id: str, tenant: Tenant) -> None:
        with self.tus.locked(upload_id, tenant.id):
            self.tus.remove(upload_id)

    # -- cleanup ---------------------------------------------------------------------------

    def remove_abandoned(self) -> list[str]:
        """The scheduler's pass: tus uploads idle past their expiry, and staging files a
        crashed process left behind."""
        removed = [f"tus:{upload_id}" for upload_id in self.tus.remove_expired()]
        cutoff = self.clock() - self.expiry_s
        for path in self.staging_dir.glob("*.part") if self.staging_dir.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(f"staging:{path.name}")
        return removed


class TusPatch:
    """The bytes of one PATCH, appended to the upload's data file under its lock."""

    def __init__(self, service: UploadService, upload: TusUpload, tenant: Tenant) -> None:
        self.service = service
        self.upload = upload
        self.tenant = tenant
        self.written = 0
        self._out: IO[bytes] | None = None
        if upload.video_id is None:
            self._out = open(service.tus.data_path(upload.id), "ab")  # noqa: SIM115

    @property
    def remaining(self) -> int:
        return self.upload.length - self.upload.offset - self.written

    def check_declared(self, content_length: str | None) -> None:
        """Refuse a body longer than what is left of the upload before reading it."""
        # uvicorn has checked Content-Length (absent when chunked: counted as bytes arrive).
        declared = int(content_length) if content_length and content_length.isdigit() else 0
        if declared > self.remaining:
            raise PayloadTooLarge(
                f"the PATCH carries {declared} bytes;"
                f" {self.remaining} remain of Upload-Length {self.upload.length}"
            )

    def write(self, chunks: Sequence[bytes]) -> None:
        if self._out is None:
            raise Conflict(f"upload {self.upload.id} is complete")
        if sum(len(chunk) for chunk in chunks) > self.remaining:
            # The whole PATCH is refused: its bytes go, so the offset stays where it was.
            self._out.flush()
            self._out.truncate(self.upload.offset)
            self.written = 0
            raise PayloadTooLarge(f"the PATCH goes past Upload-Length {self.upload.length}")
        for chunk in chunks:
            self._out.write(chunk)
            self.written += len(chunk)

    def finish(self) -> TusUpload:
        """The PATCH body ended: when it was the last byte, the upload becomes a video."""
        self.close()
        tus = self.service.tus
        upload = tus.find(self.upload.id, self.tenant.id)
        if upload.video_id is None and upload.offset == upload.length:
            video = self.service.videos.accept_staged_upload(
                tus.data_path(upload.id),
                self.tenant,
                filename=upload.filename,
                title=upload.title,
            )
            tus.mark_complete(upload.id, video.id)
            log.info("tus upload %s is video %s", upload.id, video.id)
            upload = tus.find(upload.id, self.tenant.id)
        return upload

    def close(self) -> None:
        """Keep what arrived (a client cut off mid-PATCH resumes from here)."""
        if self._out is not None:
            self._out.close()
            self._out = None
