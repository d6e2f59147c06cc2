"""Byte-level checks of a published HLS package, read straight from the S3 server (never through
a fault proxy): every file a playlist names exists and is whole, and each media segment holds
the time its EXTINF promises.

verify_package() and video_keys_problems() return a list of problems, empty when all is well,
so one assertion can show every fault a run left behind."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from vodforge.media.fmp4 import Fmp4Error, InitTrack, iter_boxes, read_init, read_segment

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"


@dataclass(frozen=True)
class PlaylistSegment:
    uri: str
    duration_s: float
    map_uri: str | None  # the EXT-X-MAP in force (RFC 8216 4.3.2.5: until the next one)


class _Objects:
    """The package's objects as the S3 server holds them (sizes listed once, bodies on demand)."""

    def __init__(self, client: Any, bucket: str, storage_prefix: str) -> None:
        self.client, self.bucket = client, bucket
        self.root = storage_prefix.strip("/") + "/" if storage_prefix.strip("/") else ""
        self.sizes: dict[str, int] = {}

    def list(self, prefix: str) -> dict[str, int]:
        paginator = self.client.get_paginator("list_objects_v2")
        found: dict[str, int] = {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.root + prefix):
            for item in page.get("Contents", []):
                found[str(item["Key"])[len(self.root) :]] = int(item["Size"])
        self.sizes.update(found)
        return found

    def read(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self.root + key)
        return bytes(response["Body"].read())


def verify_package(
    client: Any, bucket: str, package: dict[str, Any], storage_prefix: str
) -> list[str]:
    """Problems with a READY video's published package (`package` as on the video record)."""
    objects = _Objects(client, bucket, storage_prefix)
    prefix = str(package["prefix"])
    listed = objects.list(prefix)
    problems = [f"{key}: zero-length object" for key, size in listed.items() if size == 0]
    for name in ("poster", "thumbnail"):
        problems += _check_jpeg(objects, str(package[name]))
    master_key = str(package["master"])
    if master_key not in listed:
        return [*problems, f"{master_key}: master playlist missing"]
    media_playlists = _master_uris(objects.read(master_key).decode("utf-8", "replace"))
    if not media_playlists:
        problems.append(f"{master_key}: names no variant playlist")
    named = {_resolve(master_key, uri) for uri in media_playlists}
    recorded = {str(r["playlist"]) for r in package.get("renditions", [])}
    if not recorded <= named:
        problems.append(f"renditions {sorted(recorded - named)} not in the master playlist")
    checked_inits: dict[str, tuple[InitTrack, ...] | None] = {}
    for playlist_key in sorted(named):
        problems += _check_media_playlist(objects, playlist_key, checked_inits)
    return problems


def video_keys_problems(
    client: Any,
    bucket: str,
    storage_prefix: str,
    video_id: str,
    source_key: str | None,
    package: dict[str, Any],
) -> list[str]:
    """The video's objects are its source and one package prefix, nothing else (no second
    package, no attempt left over)."""
    objects = _Objects(client, bucket, storage_prefix)
    keys = objects.list(f"videos/{video_id}/")
    outside = sorted(k for k in keys if not k.startswith(str(package["prefix"])))
    expected = [source_key] if source_key else []
    if outside != expected:
        return [f"video {video_id}: objects outside its package {outside}, expected {expected}"]
    return []


def _check_media_playlist(
    objects: _Objects, key: str, inits: dict[str, tuple[InitTrack, ...] | None]
) -> list[str]:
    if key not in objects.sizes:
        return [f"{key}: media playlist missing"]
    try:
        segments = parse_segments(objects.read(key).decode("utf-8", "replace"))
    except ValueError as exc:
        return [f"{key}: {exc}"]
    if not segments:
        return [f"{key}: no segments"]
    problems: list[str] = []
    for segment in segments:
        if segment.map_uri is None:
            problems.append(f"{key}: segment {segment.uri} has no EXT-X-MAP")
            continue
        init_key = _resolve(key, segment.map_uri)
        if init_key not in inits:
            inits[init_key] = _read_init(objects, init_key, problems)
        segment_key = _resolve(key, segment.uri)
        problems += _check_segment(objects, segment_key, segment.duration_s, inits[init_key])
    return problems


def _read_init(objects: _Objects, key: str, problems: list[str]) -> tuple[InitTrack, ...] | None:
    data = _whole_file(objects, key, problems)
    if data is None:
        return None
    try:
        return read_init(data)
    except Fmp4Error as exc:
        problems.append(f"{key}: {exc}")
        return None


def _check_segment(
    objects: _Objects, key: str, extinf_s: float, init: tuple[InitTrack, ...] | None
) -> list[str]:
    problems: list[str] = []
    data = _whole_file(objects, key, problems)
    if data is None or init is None:
        return problems
    try:
        runs = read_segment(data, init)
    except Fmp4Error as exc:
        return [f"{key}: {exc}"]
    # A muxed segment's EXTINF follows its video; an audio rendition's, its audio.
    handlers = {track.track_id: track for track in init}
    kinds = [t.handler for t in init]
    leading = "vide" if "vide" in kinds else kinds[0]
    for track_id, run in runs.items():
        track = handlers.get(track_id)
        if track is None or track.handler != leading or run.samples == 0:
            continue
        seconds = run.duration / track.timescale
        frame_s = seconds / run.samples
        if abs(seconds - extinf_s) > frame_s + 1e-3:
            problems.append(
                f"{key}: samples last {seconds:.4f} s, EXTINF says {extinf_s:.4f} s "
                f"(one frame is {frame_s:.4f} s)"
            )
    return problems


def _whole_file(objects: _Objects, key: str, problems: list[str]) -> bytes | None:
    """The fMP4 file's bytes when its top-level boxes add up exactly to its length."""
    if key not in objects.sizes:
        problems.append(f"{key}: missing")
        return None
    data = objects.read(key)
    end = 0
    try:
        for _, _, box_end in iter_boxes(data, what=key):
            end = box_end
    except Fmp4Error as exc:
        problems.append(f"{key}: truncated ({exc}; {len(data)} bytes)")
        return None
    if end != len(data):
        problems.append(f"{key}: boxes end at byte {end} of {len(data)} (trailing bytes)")
        return None
    return data


def _check_jpeg(objects: _Objects, key: str) -> list[str]:
    if key not in objects.sizes:
        return [f"{key}: image missing"]
    data = objects.read(key)
    if not (data.startswith(JPEG_START) and data.endswith(JPEG_END)):
        return [f"{key}: not a whole JPEG (SOI..EOI), {len(data)} bytes"]
    return []


def _master_uris(text: str) -> list[str]:
    """The media playlists a master names: variant URIs and EXT-X-MEDIA URI attributes."""
    uris: list[str] = []
    expect_variant = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-STREAM-INF"):
            expect_variant = True
        elif line.startswith("#EXT-X-MEDIA:") and 'URI="' in line:
            uris.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#") and expect_variant:
            uris.append(line)
            expect_variant = False
    return uris


def parse_segments(text: str) -> list[PlaylistSegment]:
    """A media playlist's segments with their EXTINF and the EXT-X-MAP in force; ValueError
    for what a VOD package must not have (no ENDLIST, byte ranges, a dangling EXTINF)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not a playlist (no #EXTM3U)")
    if "#EXT-X-ENDLIST" not in lines:
        raise ValueError("no #EXT-X-ENDLIST")
    segments: list[PlaylistSegment] = []
    map_uri: str | None = None
    pending: float | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-MAP:"):
            map_uri = line.split('URI="', 1)[1].split('"', 1)[0]
        elif line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line.startswith("#EXT-X-BYTERANGE"):
            raise ValueError("byte-range segments are not produced by vodforge")
        elif not line.startswith("#"):
            if pending is None:
                raise ValueError(f"segment {line!r} has no EXTINF")
            segments.append(PlaylistSegment(line, pending, map_uri))
            pending = None
    if pending is not None:
        raise ValueError("EXTINF without a segment")
    return segments


def _resolve(playlist_key: str, uri: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(playlist_key), uri))
