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
        expires, signature = _parse_token(token)
        expected = self.signature(video_id, package_prefix, expires)
        # Bytes: compare_digest refuses str with non-ASCII characters (a hostile URL).
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Forbidden("playback signature does not match")
        self.live_until(token)

    def live_until(self, token: str) -> int:
        """When `token` lapses (epoch seconds); Forbidden if it is malformed or already has.

        It checks no signature: callers use it to turn stale URLs away before any lookup,
        then verify() against the package.
        """
        expires, _ = _parse_token(token)
        if expires < self.clock():
            raise Forbidden("playback URL has expired")
        return expires


def _parse_token(token: str) -> tuple[int, str]:
    expires_text, _, signature = token.partition(".")
    # isascii: isdigit alone also accepts digits such as '²' that int() refuses. Only the
    # form token() writes: a leading zero would make another URL (another CDN cache key) of
    # the same grant, which no one was given.
    digits = expires_text.isascii() and expires_text.isdigit()
    if not digits or len(expires_text) > 12 or expires_text[0] == "0" or not signature:
        raise Forbidden("malformed playback token")
    return int(expires_text), signature
