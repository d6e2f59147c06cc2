"""Resumable uploads (tus 1.0: core, creation, expiration, termination): the state of each
upload is a directory under the data dir holding the bytes received so far and an info file.

Why not tuspyserver (4.4.3 was evaluated, installed in the venv): it authenticates through a
dependency whose result no handler sees, so per-tenant ownership needs a directory per tenant
chosen by another hook; its HEAD answers 400 unless `Upload-Metadata` carries both `filename`
and `filetype`, so an upload named by `title` alone (SPEC §4) could never be resumed; it always
advertises creation-with-upload, whose handler reads the whole POST body into memory
(`await request.body()`), and concatenation, whose final upload is never checked against the
size limit; it takes its per-upload file lock by polling with `time.sleep` inside async
handlers, so two PATCHes of one upload in one process stall the event loop until its 30 s
timeout, and it writes chunks with blocking file calls on the loop too; expiry is whole days and
its `gc_files` cannot parse the RFC 7231 dates it writes; a failed write is recorded and then
answered 204; its completion hook gets a path and the metadata but no response, so the
`Vodforge-Video-Id` header would need a response captured in a dependency closure; and it is
untyped under mypy strict. What vodforge needs is small, so it is written here.

Layout, per upload `<root>/<id>/`: `data` (appended; its size is the offset, so the offset can
never disagree with the bytes held), `info.json` (tenant, length, metadata, and once complete
the video id; rewritten atomically), `lock` (an exclusive flock held by whichever request
writes, terminates or expires the upload, across threads and processes alike). The state lives
beside the bytes because the bytes have to be a local file anyway; every API process that
serves tus for a deployment must share the data dir (or the load balancer must be sticky).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import IO, Any

from vodforge.errors import ErrorCode, InvalidRequest, NotFound, VodforgeError

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination"
MAX_METADATA_CHARS = 4096

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
# A length or offset: ASCII digits only, and no more of them than any real size needs.
_NUMBER = re.compile(r"[0-9]{1,30}")
_METADATA_KEY = re.compile(r"^[!-+\--~]+$")  # printable ASCII without space and comma
INFO, DATA, LOCK = "info.json", "data", "lock"


class UploadLocked(VodforgeError):
    """Another request is writing to this upload right now; retry shortly."""

    code = ErrorCode.CONFLICT
    http_status = 423


@dataclass(frozen=True)
class TusUpload:
    """One resumable upload as a client sees it."""

    id: str
    tenant_id: str
    length: int
    offset: int
    raw_metadata: str | None
    created_at: float
    last_active: float
    expiry_s: float
    video_id: str | None = None
    metadata: dict[str, bytes] = field(default_factory=dict)

    @property
    def expires_at(self) -> float:
        return self.last_active + self.expiry_s

    @property
    def expires_header(self) -> str:
        """Upload-Expires, an RFC 7231 HTTP-date."""
        return formatdate(self.expires_at, usegmt=True)

    @property
    def filename(self) -> str | None:
        return metadata_text(self.metadata, "filename")

    @property
    def title(self) -> str | None:
        return metadata_text(self.metadata, "title")


def header_number(value: str | None, header: str) -> int:
    """Upload-Length or Upload-Offset: a non-negative integer in ASCII digits. Not int() or
    str.isdigit() alone: int() takes "+5" and "1_0", isdigit() takes "²", which int() refuses."""
    if value is None or not _NUMBER.fullmatch(value):
        raise InvalidRequest(f"{header} must be a non-negative integer, got {(value or '')[:40]!r}")
    return int(value)


def parse_metadata(header: str | None) -> dict[str, bytes]:
    """`Upload-Metadata`: comma-separated `key base64value` pairs; a value may be absent,
    keys are unique ASCII without spaces or commas (tus 1.0, creation extension)."""
    if header is None or not header.strip():
        return {}
    if len(header) > MAX_METADATA_CHARS:
        raise InvalidRequest(f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters")
    pairs: dict[str, bytes] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition(" ")
        if not _METADATA_KEY.match(key):
            raise InvalidRequest(f"Upload-Metadata has an invalid key {key[:40]!r}")
        if key in pairs:
            raise InvalidRequest(f"Upload-Metadata repeats the key {key!r}")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"Upload-Metadata value of {key!r} is not base64") from None
    return pairs


def metadata_text(metadata: dict[str, bytes], key: str) -> str | None:
    """A metadata value as text (None when absent or empty); 400 unless it is UTF-8."""
    value = metadata.get(key)
    if value is None:
        return None
    try:
        return value.decode("utf-8") or None
    except UnicodeDecodeError:
        raise InvalidRequest(f"Upload-Metadata {key!r} is not UTF-8 text") from None


class TusStore:
    """The uploads under one directory. Every method that changes an upload holds its lock."""

    def __init__(
        self, root: Path, *, expiry_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = Path(root)
        self.expiry_s = expiry_s
        self.clock = clock

    def create(self, tenant_id: str, length: int, raw_metadata: str | None) -> TusUpload:
        metadata = parse_metadata(raw_metadata)
        upload_id = uuid.uuid4().hex
        directory = self.root / upload_id
        directory.mkdir(parents=True)
        (directory / DATA).touch()
        (directory / LOCK).touch()
        info = {
            "id": upload_id,
            "tenant_id": tenant_id,
            "length": length,
            "metadata": raw_metadata,
            "created_at": self.clock(),
            "video_id": None,
        }
        _write_json(directory / INFO, info)
        return self._upload(directory, info, metadata)

    def find(self, upload_id: str, tenant_id: str) -> TusUpload:
        """The caller's upload; another tenant's, an expired or a missing one is NotFound."""
        upload = self._read(upload_id, tenant_id)
        if upload.expires_at < self.clock():
            raise NotFound(f"upload {upload_id} has expired")
        return upload

    @contextlib.contextmanager
    def locked(self, upload_id: str, tenant_id: str) -> Iterator[TusUpload]:
        """Hold the upload's lock (UploadLocked when another request holds it) and yield its
        state as read under the lock."""
        with self._lock(upload_id, tenant_id):
            yield self.find(upload_id, tenant_id)

    def data_path(self, upload_id: str) -> Path:
        return self._directory(upload_id) / DATA

    def mark_complete(self, upload_id: str, video_id: str) -> None:
        """Keep the upload as a record of its video, so a client whose final response was
        lost learns the video id from HEAD instead of uploading again."""
        path = self._directory(upload_id) / INFO
        info = json.loads(path.read_text())
        info.update(video_id=video_id, completed_at=self.clock())
        _write_json(path, info)

    def remove(self, upload_id: str) -> None:
        """Delete the upload's directory; the caller holds its lock."""
        shutil.rmtree(self._directory(upload_id), ignore_errors=True)

    def remove_expired(self) -> list[str]:
        """Remove every upload idle past its expiry that no request is writing to."""
        removed = []
        now = self.clock()
        for directory in sorted(self.root.glob("*")) if self.root.is_dir() else []:
            upload_id = directory.name
            if not _UPLOAD_ID.match(upload_id):
                continue
            try:
                with self._lock(upload_id, None):
                    upload = self._read(upload_id, None)
                    if upload.expires_at < now:
                        self.remove(upload_id)
                        removed.append(upload_id)
            except (UploadLocked, NotFound):
                continue
        return removed

    # -- files ---------------------------------------------------------------------------

    def _directory(self, upload_id: str) -> Path:
        # The id names a directory: only the ids this store makes are accepted.
        if not _UPLOAD_ID.match(upload_id):
            raise NotFound(f"upload {upload_id[:40]!r} not found")
        return self.root / upload_id

    def _read(self, upload_id: str, tenant_id: str | None) -> TusUpload:
        directory = self._directory(upload_id)
        try:
            info = json.loads((directory / INFO).read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            raise NotFound(f"upload {upload_id} not found") from None
        if tenant_id is not None and info["tenant_id"] != tenant_id:
            raise NotFound(f"upload {upload_id} not found")
        return self._upload(directory, info, parse_metadata(info["metadata"]))

    def _upload(
        self, directory: Path, info: dict[str, Any], metadata: dict[str, bytes]
    ) -> TusUpload:
        active = [float(info["created_at"]), float(info.get("completed_at") or 0.0)]
        offset = int(info["length"]) if info.get("video_id") else 0
        try:
            stat = (directory / DATA).stat()
            # Bytes arriving are activity: a slow upload is not abandoned while it moves.
            active.append(stat.st_mtime)
            offset = stat.st_size
        except FileNotFoundError:  # completed: the bytes moved into storage
            pass
        return TusUpload(
            id=str(info["id"]),
            tenant_id=str(info["tenant_id"]),
            length=int(info["length"]),
            offset=offset,
            raw_metadata=info.get("metadata"),
            created_at=float(info["created_at"]),
            last_active=max(active),
            expiry_s=self.expiry_s,
            video_id=info.get("video_id"),
            metadata=metadata,
        )

    @contextlib.contextmanager
    def _lock(self, upload_id: str, tenant_id: str | None) -> Iterator[None]:
        directory = self._directory(upload_id)
        try:
            handle: IO[bytes] = open(directory / LOCK, "rb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"upload {upload_id} not found") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Not waiting: a waiting request would hold a worker while a stalled client
                # keeps the lock; tus clients retry a 423.
                if tenant_id is not None:
                    self._read(upload_id, tenant_id)  # another tenant learns nothing: 404
                raise UploadLocked(f"upload {upload_id} is being written to; retry") from None
            # Terminated or expired between open and flock: the lock file is unlinked.
            if not (directory / LOCK).exists():
                raise NotFound(f"upload {upload_id} not found")
            yield


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)
