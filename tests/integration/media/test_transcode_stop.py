"""Stopping a real transcode: the ffmpeg group dies within the grace period and nothing
it wrote is treated as a result, even when ffmpeg exits 0."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.support.clips import make_clip
from tests.support.procs import live_processes_mentioning
from vodforge.domain.ladder import plan_ladder
from vodforge.domain.limits import InputLimits
from vodforge.errors import StopRequested
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source
from vodforge.media.progress import Progress
from vodforge.media.transcode import run_transcode
from vodforge.process import STOP_GRACE_S, StopToken

pytestmark = pytest.mark.slow


def processes_writing_to(out_dir: Path) -> list[int]:
    """Pids of live (non-zombie) processes whose command line names out_dir."""
    return live_processes_mentioning(str(out_dir))


def test_stop_during_a_real_transcode(tmp_path: Path) -> None:
    source = make_clip(
        tmp_path / "long.mp4", width=1280, height=720, fps=30, duration_s=20, audio=False
    )
    ffmpeg = find_ffmpeg()
    probe = probe_source(source, InputLimits(), ffmpeg)
    ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
    out = tmp_path / "out"
    stop = StopToken()
    started = threading.Event()
    seen: list[Progress] = []
    outcome: list[BaseException | None] = []

    def on_progress(progress: Progress) -> None:
        seen.append(progress)
        started.set()

    def work() -> None:
        try:
            run_transcode(ffmpeg, source, probe, ladder, out, stop=stop, on_progress=on_progress)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    assert started.wait(30), "the transcode reported progress"
    pids = processes_writing_to(out)
    assert pids, "ffmpeg is running"
    assert not seen[-1].done
    requested_at = time.monotonic()
    stop.request("cancel requested")
    worker.join(STOP_GRACE_S + 1)
    assert not worker.is_alive(), "run_transcode returned within the grace period"
    assert time.monotonic() - requested_at < STOP_GRACE_S + 1
    assert len(outcome) == 1 and isinstance(outcome[0], StopRequested)
    assert "cancel requested" in str(outcome[0])
    assert processes_writing_to(out) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[0], 0)  # the whole group is gone, not just the leader


def test_stop_after_ffmpeg_finished_is_still_a_stop(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "s.mp4", width=160, height=90, fps=30, duration_s=1)
    ffmpeg = find_ffmpeg()
    probe = probe_source(source, InputLimits(), ffmpeg)
    ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
    stop = StopToken()

    def stop_at_the_end(progress: Progress) -> None:
        if progress.done:  # ffmpeg is about to exit 0 with a complete package
            stop.request("lease lost")

    with pytest.raises(StopRequested, match="lease lost"):
        run_transcode(
            ffmpeg, source, probe, ladder, tmp_path / "out", stop=stop, on_progress=stop_at_the_end
        )
