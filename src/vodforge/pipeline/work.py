"""The transcode job: fetch the source, probe, plan, transcode (poster and thumbnail in the same
ffmpeg pass), upload under the attempt's own prefix (on remote storage while ffmpeg still
encodes), and hand back the package that completing the job publishes."""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

from vodforge.domain.ladder import plan_ladder
from vodforge.domain.states import JobKind
from vodforge.errors import ErrorCode, RetryableError, StopRequested
from vodforge.jobs.records import ClaimedJob
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source
from vodforge.media.transcode import run_transcode
from vodforge.pipeline.chunked import FamilyWork, plan_children
from vodforge.pipeline.context import JobContext, WorkDeps, WorkResult
from vodforge.pipeline.progress import ProgressReporter
from vodforge.pipeline.source import package_renditions
from vodforge.pipeline.upload import package_upload
from vodforge.storage.base import ObjectNotFound, attempt_prefix, video_prefix


class TranscodeWork:
    def __init__(self, deps: WorkDeps, ffmpeg: str) -> None:
        self.deps = deps
        self.ffmpeg = ffmpeg
        self.family = FamilyWork(deps, ffmpeg)

    def __call__(self, ctx: JobContext) -> WorkResult:
        deps, job = self.deps, ctx.job
        if job.kind is not JobKind.TRANSCODE:
            return self.family(ctx)
        video = deps.videos.get_video(job.video_id)
        reporter = ProgressReporter(deps.telemetry, job)

        reporter.enter("probe")
        assert video.source_key is not None
        suffix = PurePosixPath(video.source_key).suffix or ".bin"
        source = ctx.scratch_dir / f"source{suffix}"
        try:
            deps.storage.download_file(video.source_key, source)
        except ObjectNotFound as exc:
            # The upload was accepted, so a missing object is storage's fault, not the
            # uploader's: retry (bounded by max attempts) instead of blaming the file.
            raise RetryableError(
                f"the stored source is missing: {exc}", code=ErrorCode.STORAGE_ERROR
            ) from exc
        probe = probe_source(source, deps.limits, self.ffmpeg)
        deps.videos.record_probe(video.id, job, probe.to_json())
        ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
        _check(ctx)
        children = plan_children(deps, probe)
        if children:
            # A long source: chunk and audio jobs do the work, a stitch job publishes.
            return WorkResult(children=children)

        reporter.enter("transcode")
        out_dir = ctx.scratch_dir / "package"
        prefix = attempt_prefix(video.id, job.id, job.attempt)
        # If anything below raises, the upload stops and no object of the attempt is left.
        with package_upload(deps.storage, prefix, out_dir, [r.name for r in ladder]) as upload:
            result = run_transcode(
                self.ffmpeg,
                source,
                probe,
                ladder,
                out_dir,
                stop=ctx.stop,
                on_progress=reporter.transcode_progress,
                # ffmpeg's automatic count starts dozens of threads per encoder (55 on 2 cores
                # for a 4-rung ladder); one per core per encoder measured faster in
                # bench/transcode.
                threads=deps.ffmpeg_threads or os.cpu_count() or 0,
                with_poster=True,
            )
            reporter.enter("validate", 100.0)
            _check(ctx)
            reporter.enter("upload", 100.0)
            upload.finish()
            _check(ctx)
        assert result.poster is not None and result.thumbnail is not None
        poster, thumbnail = result.poster, result.thumbnail
        return WorkResult(
            package={
                "prefix": prefix,
                "master": prefix + result.package.master.relative_to(out_dir).as_posix(),
                "poster": prefix + poster.relative_to(out_dir).as_posix(),
                "thumbnail": prefix + thumbnail.relative_to(out_dir).as_posix(),
                "duration_s": result.package.duration_s,
                "renditions": package_renditions(prefix, result.package.renditions),
            }
        )

    def published(self, job: ClaimedJob, package: dict[str, Any]) -> None:
        """After publishing, remove the files of every other attempt of this video (a
        family's parts included: the stitch copied what it needed). A chunk or the audio
        publishes nothing: its files wait for the stitch."""
        if job.kind in (JobKind.CHUNK, JobKind.AUDIO):
            return
        storage = self.deps.storage
        attempts_root = video_prefix(job.video_id) + "attempts/"
        keep = package["prefix"]
        stale = {
            key[: key.index("/", len(attempts_root)) + 1]
            for key in storage.list_keys(attempts_root)
            if not key.startswith(keep)
        }
        for prefix in stale:
            storage.delete_prefix(prefix)

    def discarded(self, job: ClaimedJob, package: dict[str, Any]) -> None:
        """An attempt that did not publish (fenced out, cancelled) removes its own files."""
        self.deps.storage.delete_prefix(package["prefix"])


def _check(ctx: JobContext) -> None:
    if ctx.stop.requested:
        raise StopRequested(f"stopped: {ctx.stop.reason}")


def transcode_work(deps: WorkDeps) -> TranscodeWork:
    return TranscodeWork(deps, find_ffmpeg(deps.ffmpeg_path))
