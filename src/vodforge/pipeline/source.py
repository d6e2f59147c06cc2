"""Steps every job of the pipeline shares: fetch the source into scratch, stop when asked,
and upload an attempt's files under its own prefix (or leave none behind)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from vodforge.errors import ErrorCode, RetryableError, StopRequested
from vodforge.jobs.records import VideoRecord
from vodforge.media.hls import RenditionReport
from vodforge.pipeline.context import JobContext
from vodforge.storage.base import ObjectNotFound, Storage


def fetch_source(storage: Storage, video: VideoRecord, scratch_dir: Path) -> Path:
    """Download the video's source into scratch; return the local path."""
    assert video.source_key is not None
    suffix = PurePosixPath(video.source_key).suffix or ".bin"
    source = scratch_dir / f"source{suffix}"
    try:
        storage.download_file(video.source_key, source)
    except ObjectNotFound as exc:
        # The upload was accepted, so a missing object is storage's fault, not the
        # uploader's: retry (bounded by max attempts) instead of blaming the file.
        raise RetryableError(
            f"the stored source is missing: {exc}", code=ErrorCode.STORAGE_ERROR
        ) from exc
    return source


def check_stop(ctx: JobContext) -> None:
    if ctx.stop.requested:
        raise StopRequested(f"stopped: {ctx.stop.reason}")


def upload_attempt(storage: Storage, prefix: str, out_dir: Path, ctx: JobContext) -> None:
    """Upload out_dir under the attempt's prefix; on any failure or stop remove what went up,
    since nothing will ever publish this attempt."""
    try:
        storage.upload_dir(prefix, out_dir)
        check_stop(ctx)
    except BaseException:
        with contextlib.suppress(Exception):
            storage.delete_prefix(prefix)
        raise


def package_renditions(prefix: str, reports: Iterable[RenditionReport]) -> list[dict[str, Any]]:
    """The package JSON's renditions: what validation measured, playlists as stored keys."""
    return [
        {
            "name": r.name,
            "width": r.width,
            "height": r.height,
            "fps": r.fps,
            "bandwidth": r.peak_bps,
            "average_bandwidth": r.average_bps,
            "codecs": r.codecs,
            "playlist": prefix + r.playlist,
        }
        for r in reports
    ]
