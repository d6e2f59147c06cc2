"""Playback use cases: which stored file a signed play URL grants, and its bytes."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from vodforge.domain.states import VideoStatus
from vodforge.errors import NotFound
from vodforge.jobs.records import VideoRecord
from vodforge.playback.signing import PlaybackSigner
from vodforge.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    SpanReader,
    Storage,
    check_key,
    content_type_for,
)

log = logging.getLogger(__name__)

# Package files never change under a given prefix, so this bounds only how long a copy
# outlives a delete or a re-publish, not how fresh it is.
MAX_CACHE_S = 3600


class VideoLookup(Protocol):
    """How playback finds a live video (the videos repository); a protocol because the
    videos layer sits above playback."""

    def find_video(self, video_id: str, tenant_id: str | None = None) -> VideoRecord | None: ...


@dataclass(frozen=True)
class GrantedFile:
    """A file of a published package that a live token grants, until `expires`."""

    key: str
    content_type: str
    info: ObjectInfo
    expires: int


class PlaybackService:
    """Serves published packages to anyone holding a signed URL: the signature, not an API
    key, is the authority, so videos of every tenant are reachable here."""

    def __init__(self, videos: VideoLookup, storage: Storage, signer: PlaybackSigner):
        self.videos = videos
        self.storage = storage
        self.signer = signer

    def resolve(self, video_id: str, token: str, path: str) -> GrantedFile:
        """The package file `path` names, if `token` grants the video's current package.

        Forbidden: the token is malformed, expired, or not signed for this video's current
        package (tampered, another video's, an older package's). NotFound: no READY video has
        this id (there is no package to check a signature against), or the package has no
        file at `path` (names that could leave the package are no file of it).
        """
        expires = self.signer.live_until(token)  # stale players cost no query
        prefix = self._package_prefix(video_id)
        self.signer.verify(video_id, prefix, token)
        key = _package_key(prefix, path)
        try:
            info = self.storage.stat(key)
        except ObjectNotFound:
            raise NotFound(f"no file {path!r} in this video's package") from None
        except ValueError as exc:
            # The storage refuses the key itself: in a local directory, a symlink inside the
            # package that leads out of the storage root. Nothing the package has, so a 404.
            log.warning("play request for a key the storage refuses: %s", exc)
            raise NotFound(f"no file {path[:200]!r} in this video's package") from None
        return GrantedFile(key, content_type_for(key), info, expires)

    def cache_lifetime(self, file: GrantedFile) -> int:
        """Seconds a copy of `file` may be reused: never past its token's expiry, and at most
        MAX_CACHE_S, so deleting or re-publishing a video reaches shared caches soon."""
        return max(0, min(file.expires - int(self.signer.clock()), MAX_CACHE_S))

    def open(self, file: GrantedFile, offset: int, length: int) -> SpanReader:
        return self.storage.open_range(file.key, offset, length)

    def _package_prefix(self, video_id: str) -> str:
        try:
            uuid.UUID(video_id)
        except ValueError:
            raise NotFound(f"no playable video {video_id[:80]!r}") from None
        video = self.videos.find_video(video_id)
        if video is None or video.status is not VideoStatus.READY or not video.package:
            raise NotFound(f"no playable video {video_id}")
        return str(video.package["prefix"])


def _package_key(prefix: str, path: str) -> str:
    """The storage key of `path` inside the package; NotFound for anything that is not a plain
    relative name ('..', '.hidden', absolute, backslashes, control characters, empty)."""
    try:
        return check_key(prefix.rstrip("/") + "/" + path)
    except ValueError:
        raise NotFound(f"no file {path[:200]!r} in this video's package") from None
