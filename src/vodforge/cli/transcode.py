"""`vodforge transcode FILE --out DIR`: the whole pipeline, locally, through the job engine;
and `vodforge sample FILE`, a clip to try it on."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from vodforge.bootstrap import Components
from vodforge.cli.output import emit, fail
from vodforge.cli.progress import ProgressBar
from vodforge.cli.runtime import build_runner, on_termination
from vodforge.cli.videos import tenant_for_submit
from vodforge.domain.states import JobState
from vodforge.errors import ConfigError, ErrorCode
from vodforge.jobs.core import Failure
from vodforge.process import StopToken
from vodforge.settings import Settings
from vodforge.tenants.service import DEFAULT_TENANT
from vodforge.worker.family import run_family
from vodforge.worker.heartbeat import CANCELLED
from vodforge.worker.runtime import new_worker_id

REJECTION_CODES = {
    ErrorCode.INVALID_INPUT.value,
    ErrorCode.NO_VIDEO_STREAM.value,
    ErrorCode.INPUT_TOO_LARGE.value,
    ErrorCode.UNSUPPORTED_FORMAT.value,
}


def cmd_transcode(components: Components, args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} must be an empty or new directory")
    video = components.videos.submit_file(
        Path(args.file), tenant_for_submit(components, DEFAULT_TENANT)
    )
    assert video.current_job_id is not None
    job = components.repo.claim_job_by_id(video.current_job_id, new_worker_id("transcode"))
    if job is None:
        raise ConfigError("another worker on this data directory claimed the job first")

    runner = build_runner(components)
    stop = StopToken()

    def cancel() -> None:
        components.repo.cancel_job(job.id, actor="transcode")
        stop.request(CANCELLED)

    on_termination(cancel)
    done = threading.Event()
    show_bar = sys.stderr.isatty() and not args.json
    with ProgressBar(Path(args.file).name, enabled=show_bar) as bar:
        watcher = threading.Thread(
            target=_follow_progress,
            args=(components, video.tenant_id, video.id, bar, done),
            name="progress",
            daemon=True,
        )
        if show_bar:
            watcher.start()
        try:
            outcome = runner.run(job, stop)
            if outcome.state is JobState.RUNNING:
                # A long source was split: run its chunk, audio and stitch jobs here too.
                outcome = run_family(components.repo, runner, job.id, stop, job.worker_id)
        finally:
            done.set()
            if watcher.is_alive():
                watcher.join(timeout=2)
        if outcome.state is JobState.SUCCEEDED:
            bar.show(100, "done")
    final = components.videos.get(video.id)
    data = components.videos.describe(final)
    if outcome.state is JobState.SUCCEEDED and final.package:
        _copy_package(components, final.package["prefix"], out)
        data["out"] = str(out.resolve())
        emit(
            data,
            as_json=args.json,
            text=f"READY {out / 'master.m3u8'} ({len(data['renditions'])} renditions)",
        )
        return 0
    failure = outcome.failure
    if failure is None and final.error_code:
        # A chunked video fails through its family: the video carries the reason.
        failure = Failure(final.error_code, final.error_message or "", retryable=False)
    reason = (
        f"{failure.code}: {failure.message}"
        if failure
        else f"job ended {outcome.state.value if outcome.state else 'without a lease'}"
    )
    if args.json:
        emit(data, as_json=True, text="")
    fail(reason)
    return 2 if failure is not None and failure.code in REJECTION_CODES else 1


def _copy_package(components: Components, prefix: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for key in components.storage.list_keys(prefix):
        target = out / key.removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        components.storage.download_file(key, target)


def _follow_progress(
    components: Components, tenant_id: str, video_id: str, bar: ProgressBar, done: threading.Event
) -> None:
    while not done.wait(0.5):
        progress = components.telemetry.read_progress(tenant_id, video_id) or {}
        stage, speed = progress.get("stage"), progress.get("speed")
        if not progress:
            # A chunked video: its progress is its chunks' sum, as the API shows it.
            shown = components.videos.show(video_id)["progress"]
            chunks = shown.get("chunks")
            stage = shown.get("stage")
            if chunks and stage:
                stage = f"{stage} {chunks['done']}/{chunks['total']} chunks"
            bar.show(shown.get("percent"), stage)
            continue
        if stage and isinstance(speed, int | float) and speed > 0:
            stage = f"{stage} {speed:.1f}x"
        bar.show(progress.get("percent"), stage)


def cmd_sample(settings: Settings, args: argparse.Namespace) -> int:
    from vodforge.media.ffmpeg import find_ffmpeg
    from vodforge.media.sample import make_sample

    out = make_sample(find_ffmpeg(settings.ffmpeg_path), Path(args.file), args.seconds)
    emit(
        {"file": str(out.resolve()), "seconds": args.seconds, "width": 1280, "height": 720},
        as_json=args.json,
        text=f"wrote {out} ({args.seconds:g} s, 1280x720, 30 fps, AAC)",
    )
    return 0
