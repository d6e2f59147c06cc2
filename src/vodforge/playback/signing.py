"""Signs and checks playback URLs: one HMAC over (video, package, expiry) covers every file.

The signature sits in the URL's path, before the file name, so the relative URIs inside the
playlists (variant playlists, init and media segments) resolve under the same signed path
and load with no header; a customer's page needs nothing but the master URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

from vodforge.errors import Forbidden

PLAY_ROUTE = "/v1/play"


class PlaybackSigner:
    def __init__(
        self,
        secret: bytes,
        *,
        base_url: str,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self.clock = clock

    def signature(self, video_id: str, package_prefix: str, expires: int) -> str:
        message = f"{video_id}\n{package_prefix}\n{expires}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def token(self, video_id: str, package_prefix: str) -> str:
        """`{expires}.{signature}`: the path segment that grants the package until `expires`."""
        expires = int(self.clock()) + self.ttl_s
        return f"{expires}.{self.signature(video_id, package_prefix, expires)}"

    def url(self, video_id: str, package_prefix: str, relative: str) -> str:
        token = self.token(video_id, package_prefix)
        return f"{self.base_url}{PLAY_ROUTE}/{video_id}/{token}/{relative}"

    def verify(self, video_id: str, package_prefix: str, token: str) -> None:
        """Raise Forbidden unless `token` was signed for this video's package and is live."""
        expires_text, _, signature = token.partition(".")
        if not expires_text.isdigit() or not signature:
            raise Forbidden("malformed playback token")
        expected = self.signature(video_id, package_prefix, int(expires_text))
        if not hmac.compare_digest(expected, signature):
            raise Forbidden("playback signature does not match")
        if int(expires_text) < self.clock():
            raise Forbidden("playback URL has expired")
