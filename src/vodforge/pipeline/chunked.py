"""The work of a long video's family of jobs (chunked encoding, SPEC §3 item 7): plan the
children of a long source, encode one chunk or the audio, and stitch the parts' segments
into one package without re-encoding them.

Every part uploads under its own attempt prefix and records what it wrote in the fenced
transition that completes it; the stitch copies exactly those recorded files (never a
listing, so a zombie attempt's files can never enter a package) into its own attempt prefix,
laid out as an unchunked package, and publishing it removes every other attempt's files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vodforge.domain.chunks import ChunkSpan, plan_chunks
from vodforge.domain.ladder import Rendition, plan_ladder
from vodforge.domain.states import JobKind
from vodforge.errors import ErrorCode, RetryableError
from vodforge.jobs.family import NewChild
from vodforge.jobs.records import VideoRecord
from vodforge.media.chunks import INDEXED_FORMATS, encode_audio, encode_chunk
from vodforge.media.commands import poster_time_s
from vodforge.media.parts import PartOutput
from vodforge.media.probe_header import ProbeResult
from vodforge.media.stitch import plan_stitch
from vodforge.pipeline.context import JobContext, WorkDeps, WorkResult
from vodforge.pipeline.progress import ProgressReporter
from vodforge.pipeline.source import (
    check_stop,
    fetch_source,
    package_renditions,
    upload_attempt,
)
from vodforge.storage.base import attempt_prefix


def plan_children(deps: WorkDeps, probe: ProbeResult) -> tuple[NewChild, ...]:
    """The children of a source long enough to chunk: the audio first (one job over the
    whole source, so no AAC priming gap at a chunk boundary), then the chunks in order.
    Empty when the source is encoded in one job."""
    if probe.is_vfr or probe.format_name not in INDEXED_FORMATS:
        # A chunk is cut exactly only on a constant frame rate, and found quickly only in a
        # container with an index (MP4/MOV): elsewhere every chunk would decode the source
        # from its start. Those sources are encoded in one job, as short ones are.
        return ()
    spans = plan_chunks(
        probe.duration_s, chunk_s=deps.chunk_s, min_duration_s=deps.chunk_min_duration_s
    )
    if not spans:
        return ()
    poster_at = poster_time_s(probe.duration_s)
    children: list[NewChild] = []
    if probe.has_audio:
        children.append(NewChild(JobKind.AUDIO, {}, reason="split: the audio"))
    for span in spans:
        spec = span.to_json() | {
            "count": len(spans),
            "poster": span.start_s <= poster_at < span.end_s,
        }
        reason = f"split: chunk {span.index + 1}/{len(spans)} ({span.start_s:g}-{span.end_s:g} s)"
        children.append(NewChild(JobKind.CHUNK, spec, reason=reason))
    return tuple(children)


class FamilyWork:
    """Runs a family's chunk, audio and stitch jobs for the transcode work."""

    def __init__(self, deps: WorkDeps, ffmpeg: str) -> None:
        self.deps = deps
        self.ffmpeg = ffmpeg

    def __call__(self, ctx: JobContext) -> WorkResult:
        kind = ctx.job.kind
        if kind is JobKind.CHUNK:
            return self.encode_chunk(ctx)
        if kind is JobKind.AUDIO:
            return self.encode_audio(ctx)
        if kind is JobKind.STITCH:
            return self.stitch(ctx)
        raise ValueError(f"not a family job: {kind.value}")

    # -- parts ----------------------------------------------------------------------------------

    def encode_chunk(self, ctx: JobContext) -> WorkResult:
        spec = ctx.job.spec or {}
        span = ChunkSpan.from_json(spec)
        probe, ladder, reporter, source, out_dir = self._prepare_part(ctx)
        part = encode_chunk(
            self.ffmpeg,
            source,
            probe,
            ladder,
            span,
            out_dir,
            stop=ctx.stop,
            on_progress=reporter.transcode_progress,
            threads=self.deps.ffmpeg_threads or os.cpu_count() or 0,
            poster=bool(spec.get("poster")),
        )
        return self._upload_part(ctx, reporter, part, out_dir)

    def encode_audio(self, ctx: JobContext) -> WorkResult:
        probe, _, reporter, source, out_dir = self._prepare_part(ctx)
        part = encode_audio(
            self.ffmpeg,
            source,
            probe,
            out_dir,
            stop=ctx.stop,
            on_progress=reporter.transcode_progress,
        )
        return self._upload_part(ctx, reporter, part, out_dir)

    def _prepare_part(
        self, ctx: JobContext
    ) -> tuple[ProbeResult, Sequence[Rendition], ProgressReporter, Path, Path]:
        """What a chunk or the audio starts from: the probe, the ladder, its progress, the
        source in scratch and the (new) directory to encode into."""
        video, probe, ladder = self._planned(ctx)
        reporter = ProgressReporter(self.deps.telemetry, ctx.job)
        reporter.enter("probe")
        source = fetch_source(self.deps.storage, video, ctx.scratch_dir)
        check_stop(ctx)
        reporter.enter("transcode")
        return probe, ladder, reporter, source, ctx.scratch_dir / "part"

    def _upload_part(
        self, ctx: JobContext, reporter: ProgressReporter, part: PartOutput, out_dir: Path
    ) -> WorkResult:
        check_stop(ctx)
        reporter.enter("upload", 100.0)
        prefix = attempt_prefix(ctx.job.video_id, ctx.job.id, ctx.job.attempt)
        upload_attempt(self.deps.storage, prefix, out_dir, ctx)
        return WorkResult(output={"prefix": prefix, "part": part.to_json()})

    # -- stitch ---------------------------------------------------------------------------------

    def stitch(self, ctx: JobContext) -> WorkResult:
        video, probe, ladder = self._planned(ctx)
        reporter = ProgressReporter(self.deps.telemetry, ctx.job)
        reporter.enter("validate", 100.0)
        assert ctx.job.parent_id is not None
        chunks, chunk_prefixes, audio, audio_prefix = self._parts(ctx.job.parent_id)
        plan = plan_stitch(chunks, audio, ladder, probe.duration_s)
        check_stop(ctx)
        reporter.enter("upload", 100.0)
        prefix = attempt_prefix(video.id, ctx.job.id, ctx.job.attempt)
        sources = [*chunk_prefixes, *([audio_prefix] if audio_prefix else [])]
        storage = self.deps.storage
        try:
            storage.copy_objects(
                [(sources[index] + inner, prefix + target) for index, inner, target in plan.copies]
            )
            for name, data in sorted(plan.files.items()):
                storage.put_bytes(prefix + name, data)
            check_stop(ctx)
        except BaseException:
            # Nothing will publish this attempt: leave no objects of it behind.
            with contextlib.suppress(Exception):
                storage.delete_prefix(prefix)
            raise
        report = plan.report
        targets = {target for _, _, target in plan.copies}
        package: dict[str, Any] = {
            "prefix": prefix,
            "master": prefix + "master.m3u8",
            "duration_s": report.duration_s,
            "chunks": len(chunks),
            "renditions": package_renditions(prefix, report.renditions),
        }
        for image in ("poster", "thumbnail"):
            name = f"{image}.jpg"
            if name in targets:
                package[image] = prefix + name
        return WorkResult(package=package)

    def _parts(
        self, parent_id: str
    ) -> tuple[list[PartOutput], list[str], PartOutput | None, str | None]:
        """The recorded outputs of the family's chunks (in order) and audio."""
        chunks: list[tuple[PartOutput, str]] = []
        audio: tuple[PartOutput, str] | None = None
        for child in self.deps.jobs.family_parts(parent_id):
            if child.kind not in (JobKind.CHUNK, JobKind.AUDIO):
                continue
            if child.result is None:
                # The family starts its stitch only once every part recorded its output.
                raise RetryableError(
                    f"{child.kind.value} job {child.id} has no recorded output",
                    code=ErrorCode.OUTPUT_INVALID,
                )
            part = PartOutput.from_json(child.result["part"])
            if child.kind is JobKind.AUDIO:
                audio = (part, child.result["prefix"])
            else:
                chunks.append((part, child.result["prefix"]))
        chunks.sort(key=lambda item: item[0].index)
        return (
            [part for part, _ in chunks],
            [prefix for _, prefix in chunks],
            audio[0] if audio else None,
            audio[1] if audio else None,
        )

    def _planned(self, ctx: JobContext) -> tuple[VideoRecord, ProbeResult, Sequence[Rendition]]:
        """The video, its probe (recorded by the parent's run) and the ladder planned from it
        (a pure function of the probe, so every child plans the same ladder)."""
        video = self.deps.videos.get_video(ctx.job.video_id)
        if video.probe is None:
            raise RetryableError(
                f"video {video.id} has no recorded probe", code=ErrorCode.INTERNAL_ERROR
            )
        probe = ProbeResult.from_json(video.probe)
        ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
        return video, probe, ladder
