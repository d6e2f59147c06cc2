"""Hostile and broken uploads: each is refused quickly with its code, and files named inside
playlists or concat lists are never opened."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clips import make_audio_only, make_clip, make_huge_frame
from vodforge.domain.limits import InputLimits
from vodforge.errors import ErrorCode, InputRejected, RetryableError
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source, run_header_probe
from vodforge.process import run_child

FAST_S = 5.0


class OpenDetector:
    """A FIFO posing as a video file that records whether anything opened it for reading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._wait_for_reader, daemon=True)
        self._thread.start()

    def _wait_for_reader(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until some process opens it to read
        if not self._closing:
            self.opened.set()
        os.close(fd)

    def close(self) -> None:
        self._closing = True
        if not self.opened.is_set():
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # release the writer
            self._thread.join(timeout=5)
            os.close(fd)


@pytest.fixture
def detector(tmp_path: Path) -> Iterator[OpenDetector]:
    watched = OpenDetector(tmp_path / "secret-video.mp4")
    yield watched
    watched.close()


def rejected(path: Path, limits: InputLimits | None = None) -> InputRejected:
    started = time.monotonic()
    with pytest.raises(InputRejected) as caught:
        probe_source(path, limits or InputLimits(), find_ffmpeg())
    assert time.monotonic() - started < FAST_S
    assert "\n" not in str(caught.value), "the message is one line"
    return caught.value


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert rejected(tmp_path / "empty.mp4").code is ErrorCode.INVALID_INPUT


def test_random_bytes(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(200_000)
    (tmp_path / "noise.mp4").write_bytes(noise)
    assert rejected(tmp_path / "noise.mp4").code is ErrorCode.UNSUPPORTED_FORMAT


def test_random_bytes_behind_an_mp4_signature(tmp_path: Path) -> None:
    noise = random.Random(8).randbytes(200_000)
    (tmp_path / "fake.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isom" + noise)
    assert rejected(tmp_path / "fake.mp4").code is ErrorCode.INVALID_INPUT


def test_text_file(tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("just some notes\n" * 50)
    assert rejected(tmp_path / "notes.mp4").code is ErrorCode.INVALID_INPUT


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_mp4(tmp_path: Path, faststart: bool) -> None:
    clip = make_clip(
        tmp_path / "whole.mp4", width=320, height=240, fps=30, duration_s=3, faststart=faststart
    )
    data = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 3 // 10])
    error = rejected(tmp_path / "cut.mp4")
    assert error.code is ErrorCode.INVALID_INPUT
    probe_source(clip, InputLimits(), find_ffmpeg())  # the whole file is fine


def test_audio_only(tmp_path: Path) -> None:
    audio = make_audio_only(tmp_path / "voice.m4a")
    assert rejected(audio).code is ErrorCode.NO_VIDEO_STREAM


def test_giant_frame_is_refused_from_the_header(tmp_path: Path) -> None:
    huge = make_huge_frame(tmp_path / "huge.mov")
    error = rejected(huge)
    assert error.code is ErrorCode.INPUT_TOO_LARGE
    assert "16000x16000" in str(error)


def test_not_a_regular_file(tmp_path: Path) -> None:
    assert rejected(tmp_path).code is ErrorCode.INVALID_INPUT
    os.mkfifo(tmp_path / "pipe.mp4")
    assert rejected(tmp_path / "pipe.mp4").code is ErrorCode.INVALID_INPUT


def test_missing_source_is_our_problem_not_the_uploaders(tmp_path: Path) -> None:
    with pytest.raises(RetryableError) as caught:
        probe_source(tmp_path / "gone.mp4", InputLimits(), find_ffmpeg())
    assert caught.value.code is ErrorCode.STORAGE_ERROR


def hls_playlist(target: Path) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
        f"#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n"
    )


def concat_list(target: Path) -> str:
    return f"ffconcat version 1.0\nfile '{target}'\n"


@pytest.mark.parametrize("make_text", [hls_playlist, concat_list])
def test_playlists_are_refused_before_ffmpeg(
    tmp_path: Path, detector: OpenDetector, make_text: object
) -> None:
    assert callable(make_text)
    upload = tmp_path / "upload.mp4"
    upload.write_text(make_text(detector.path))
    assert rejected(upload).code is ErrorCode.UNSUPPORTED_FORMAT
    time.sleep(0.2)
    assert not detector.opened.is_set()


@pytest.mark.parametrize(
    ("name", "make_text", "demuxer"),
    [
        ("evil.m3u8", hls_playlist, None),
        ("evil.m3u8", hls_playlist, "hls"),
        ("list.ffconcat", concat_list, None),
        ("list.ffconcat", concat_list, "concat"),
    ],
)
def test_whitelist_alone_refuses_playlists(
    tmp_path: Path, detector: OpenDetector, name: str, make_text: object, demuxer: str | None
) -> None:
    """Even with sniffing bypassed, and even forcing the demuxer, ffmpeg refuses."""
    assert callable(make_text)
    upload = tmp_path / name
    upload.write_text(make_text(detector.path))
    with pytest.raises(InputRejected):
        run_header_probe(find_ffmpeg(), upload, demuxer=demuxer, timeout_s=10)
    time.sleep(0.2)
    assert not detector.opened.is_set()


def test_detector_sees_an_unrestricted_concat_open_the_file(
    tmp_path: Path, detector: OpenDetector
) -> None:
    """Control: without the whitelist the concat demuxer does open the listed file, so the
    tests above would notice if the hardening stopped working."""
    upload = tmp_path / "list.ffconcat"
    upload.write_text(concat_list(detector.path))
    argv = [find_ffmpeg(), "-nostdin", "-hide_banner", "-f", "concat", "-safe", "0"]
    run_child([*argv, "-i", str(upload)], timeout_s=10, grace_s=1)
    assert detector.opened.wait(5)
