"""Signed playback URLs under attack: every character of the signature, of the expiry and of
the video id changed in turn, grants moved to another video or another tenant's video, an
expired grant, a grant reused after its video is deleted. Each is refused with a stable code
and `Cache-Control: no-store` (so no cache keeps the refusal, or anything else): 403
FORBIDDEN for a signature that does not hold, 404 NOT_FOUND where no READY video has the id
(as the README's Playback section documents: a deleted video has no package to check a token
against). Nothing is ever served.

tests/integration/api/test_playback.py has one case of each kind; this file tries them all.
"""

from __future__ import annotations

import string
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import TenantKey
from tests.support.errors import assert_error
from tests.support.playback import (
    package_files,
    package_of,
    path_of,
    ready_with_files,
)
from vodforge.bootstrap import Components
from vodforge.playback.signing import PLAY_ROUTE, PlaybackSigner

B64URL = string.ascii_letters + string.digits + "-_"
FILES = list(package_files())


def grant(client: TestClient, tenant: TenantKey, video_id: str) -> tuple[str, str, str]:
    """(video id, token, file) of the video's signed playback_url."""
    body = client.get(f"/v1/videos/{video_id}", headers=tenant.headers).json()
    _, _, _, video, token, name = path_of(body["playback_url"]).split("/", 5)
    assert video == video_id and name == "master.m3u8", body["playback_url"]
    return video, token, name


def play(
    client: TestClient, video_id: str, token: str, name: str, method: str = "GET"
) -> httpx.Response:
    return client.request(method, f"{PLAY_ROUTE}/{video_id}/{token}/{name}")


def assert_refused(response: httpx.Response, status: int, code: str, why: str) -> None:
    """Refused with the error shape (GET) or the bare status (HEAD), never cacheable."""
    assert response.status_code == status, (why, response.status_code, response.text[:200])
    assert response.headers["cache-control"] == "no-store", why
    if response.request.method == "GET":
        assert_error(response, status, code)


@pytest.fixture
def playable(client: TestClient, components: Components, alice: TenantKey) -> Iterator[str]:
    video_id = ready_with_files(components, alice.key, package_files())
    _, token, name = grant(client, alice, video_id)
    assert play(client, video_id, token, name).status_code == 200
    yield video_id


def other_char(ch: str) -> str:
    """A different character of the same alphabet (digits stay digits)."""
    alphabet = string.digits if ch.isdigit() else B64URL
    return alphabet[(alphabet.index(ch) + 1) % len(alphabet)] if ch in alphabet else "A"


def test_every_character_of_the_signature_is_checked(
    client: TestClient, alice: TenantKey, playable: str
) -> None:
    video_id, token, name = grant(client, alice, playable)
    expires, _, signature = token.partition(".")
    assert len(signature) == 43  # 32 bytes of HMAC-SHA256, base64url without padding
    forged = [
        signature[:i] + other_char(signature[i]) + signature[i + 1 :] for i in range(len(signature))
    ]
    forged += [
        signature[:i] + signature[i + 1 :]
        for i in (0, 21, 42)  # one character dropped
    ]
    forged += [
        signature + "=",
        signature + "A",
        signature[:-1],
        signature[:22],
        signature.swapcase(),
        signature.replace("-", "+").replace("_", "/") + "=",
        signature[::-1],
        "A" * 43,
        signature + "." + signature,
    ]
    forged = [bad for bad in forged if bad != signature]
    for bad in forged:
        for method in ("GET", "HEAD"):
            response = play(client, video_id, f"{expires}.{bad}", name, method)
            assert_refused(response, 403, "FORBIDDEN", f"{method} signature {bad!r}")
    assert play(client, video_id, token, name).status_code == 200


def test_every_character_of_the_expiry_is_checked(
    client: TestClient, alice: TenantKey, playable: str
) -> None:
    """Each digit changed to every other digit: a later expiry does not match the signature,
    an earlier one has passed or does not match either. Other spellings of the same number
    are other URLs nobody was given."""
    video_id, token, name = grant(client, alice, playable)
    expires, _, signature = token.partition(".")
    changed = {
        expires[:i] + digit + expires[i + 1 :]
        for i in range(len(expires))
        for digit in string.digits
        if digit != expires[i]
    }
    changed |= {
        "0" + expires,
        "00" + expires,
        "+" + expires,
        " " + expires,
        expires + " ",
        "-" + expires,
        expires + "0",
        expires[:-1],
        expires + ".0",
        str(int(expires) + 1),
        str(int(expires) - 1),
        "9" * 12,
        "9" * 13,
        "",
        "１" + expires[1:],  # a full-width digit
    }
    for bad in sorted(changed):
        for method in ("GET", "HEAD"):
            response = play(client, video_id, f"{bad}.{signature}", name, method)
            assert_refused(response, 403, "FORBIDDEN", f"{method} expiry {bad!r}")


def test_every_character_of_the_video_id_is_checked(
    client: TestClient, components: Components, alice: TenantKey, playable: str
) -> None:
    """The id is signed too: changed anywhere it names no READY video (404) or another one
    (403); the token never opens anything."""
    video_id, token, name = grant(client, alice, playable)
    for i in range(len(video_id)):
        bad = video_id[:i] + other_char(video_id[i]) + video_id[i + 1 :]
        for method in ("GET", "HEAD"):
            response = play(client, bad, token, name, method)
            assert response.status_code in (403, 404), (bad, response.status_code)
            code = "FORBIDDEN" if response.status_code == 403 else "NOT_FOUND"
            assert_refused(response, response.status_code, code, f"{method} video {bad}")
    for bad in (video_id.upper(), "{" + video_id + "}", video_id.replace("-", ""), video_id + "/"):
        response = play(client, bad, token, name)
        assert response.status_code in (403, 404), (bad, response.status_code)


def test_a_grant_opens_no_other_video_of_any_tenant(
    client: TestClient, components: Components, alice: TenantKey, bob: TenantKey, playable: str
) -> None:
    """Alice's token on another video of hers and on one of bob's, for every file of their
    packages, GET and HEAD: 403. And the other way round: bob's token on alice's video."""
    alices_other = ready_with_files(components, alice.key, package_files(), "other")
    bobs = ready_with_files(components, bob.key, package_files(), "bob's")
    _, alice_token, _ = grant(client, alice, playable)
    _, bob_token, _ = grant(client, bob, bobs)
    attempts = [(alices_other, alice_token), (bobs, alice_token), (playable, bob_token)]
    for video_id, token in attempts:
        for name in FILES:
            for method in ("GET", "HEAD"):
                response = play(client, video_id, token, name, method)
                assert_refused(response, 403, "FORBIDDEN", f"{method} {video_id} {name}")
    # Each grant still opens its own video: the refusals were about the pairing.
    for video_id, tenant in ((playable, alice), (alices_other, alice), (bobs, bob)):
        _, token, _ = grant(client, tenant, video_id)
        for name in FILES:
            assert play(client, video_id, token, name).status_code == 200


def test_an_expired_grant_is_403_from_its_first_second(
    client: TestClient, components: Components, playable: str
) -> None:
    prefix = package_of(components, playable)["prefix"]
    secret = components.signer.secret
    lapsed = PlaybackSigner(secret, base_url="", ttl_s=0, clock=lambda: time.time() - 2)
    live = PlaybackSigner(secret, base_url="", ttl_s=60)
    for name in FILES:
        for method in ("GET", "HEAD"):
            response = play(client, playable, lapsed.token(playable, prefix), name, method)
            assert_refused(response, 403, "FORBIDDEN", f"{method} {name} lapsed")
            fresh = play(client, playable, live.token(playable, prefix), name, method)
            assert fresh.status_code == 200, name


def test_a_grant_reused_after_the_video_is_deleted_is_404(
    client: TestClient, components: Components, alice: TenantKey, playable: str
) -> None:
    """Documented: a deleted video is not READY, so there is no package to check the token
    against: 404, for every file, before and after the scheduler purges it; and a token freshly
    signed with the deployment's own key for the old package opens nothing either."""
    _, token, _ = grant(client, alice, playable)
    prefix = package_of(components, playable)["prefix"]
    deleted = client.delete(f"/v1/videos/{playable}", headers=alice.headers)
    assert deleted.status_code == 200, deleted.text

    def all_refused(tokens: list[str], when: str) -> None:
        for candidate in tokens:
            for name in FILES:
                for method in ("GET", "HEAD"):
                    response = play(client, playable, candidate, name, method)
                    assert_refused(response, 404, "NOT_FOUND", f"{when}: {method} {name}")

    resigned = components.signer.token(playable, prefix)
    all_refused([token, resigned], "deleted")
    # Its objects go at once (no job could still write) or at the scheduler's next pass.
    assert deleted.json()["purged"] or playable in components.videos.purge_deleted()
    all_refused([token, resigned], "purged")


def test_the_base_of_a_grant_cannot_be_rearranged(
    client: TestClient, alice: TenantKey, playable: str
) -> None:
    """The token must be the segment right after the id: moved, doubled or split it is no
    grant (or no route), and the package is never served."""
    video_id, token, name = grant(client, alice, playable)
    expires, _, signature = token.partition(".")
    for path in (
        f"{PLAY_ROUTE}/{token}/{video_id}/{name}",
        f"{PLAY_ROUTE}/{video_id}/{token}/{token}/{name}",
        f"{PLAY_ROUTE}/{video_id}/{expires}/{signature}/{name}",
        f"{PLAY_ROUTE}/{video_id}/{signature}.{expires}/{name}",
        f"{PLAY_ROUTE}/{video_id}/{token}.{token}/{name}",
        f"{PLAY_ROUTE}/{video_id}/{token.replace('.', '%2E')}x/{name}",
        f"{PLAY_ROUTE}/{video_id}//{name}",
        f"{PLAY_ROUTE}/{video_id}/{name}",
    ):
        response = client.get(path)
        assert response.status_code in (403, 404), (path, response.status_code)
        assert response.headers["cache-control"] == "no-store", path
        assert response.json()["error"]["code"] in ("FORBIDDEN", "NOT_FOUND"), path
