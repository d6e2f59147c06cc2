"""How a finished ffmpeg run is classified: stop, timeout, signal, bad input, other."""

from __future__ import annotations

import pytest

from vodforge.errors import ErrorCode, InputRejected, RetryableError, StopRequested
from vodforge.media.transcode import (
    SourceUndecodable,
    TranscodeFailed,
    classify_result,
    transcode_timeout_s,
)
from vodforge.process import ChildResult, StopToken


def result(**changes: object) -> ChildResult:
    values: dict[str, object] = {
        "argv": ("ffmpeg", "-i", "x"),
        "returncode": 0,
        "stderr_tail": "",
        "stopped": False,
        "stop_reason": None,
        "timed_out": False,
        "wall_s": 1.0,
        "cpu_s": 1.0,
        "max_rss_kb": 1,
    }
    values.update(changes)
    return ChildResult(**values)  # type: ignore[arg-type]


def test_success_returns() -> None:
    classify_result(result(), StopToken(), "transcode")


def test_stop_wins_even_over_exit_zero() -> None:
    with pytest.raises(StopRequested, match="cancel"):
        classify_result(result(stopped=True, stop_reason="cancel", returncode=-15), None, "t")
    token = StopToken()
    token.request("lease lost")
    with pytest.raises(StopRequested, match="lease lost"):
        classify_result(result(returncode=0), token, "t")


def test_timeout_is_retryable_with_its_code() -> None:
    with pytest.raises(TranscodeFailed) as caught:
        classify_result(result(timed_out=True, returncode=-9), StopToken(), "transcode")
    assert caught.value.code is ErrorCode.TRANSCODE_TIMEOUT and caught.value.retryable


@pytest.mark.parametrize(
    ("returncode", "stderr"),
    [(-9, ""), (1, "x264 [error]: malloc of size 1 failed\nCannot allocate memory"),
     (1, "Conversion failed!"), (187, "")],
)  # fmt: skip
def test_our_side_failures_are_retryable(returncode: int, stderr: str) -> None:
    with pytest.raises(RetryableError) as caught:
        classify_result(result(returncode=returncode, stderr_tail=stderr), None, "transcode")
    assert caught.value.code is ErrorCode.TRANSCODE_FAILED
    assert isinstance(caught.value, TranscodeFailed)
    assert caught.value.failure.returncode == returncode
    assert caught.value.failure.argv == ("ffmpeg", "-i", "x")
    assert "\n" not in str(caught.value)


def test_bad_input_is_permanent_and_keeps_details() -> None:
    stderr = (
        "[h264 @ 0x1] corrupt input\n"
        "[in#0] Error during demuxing: Invalid data found when processing input"
    )
    with pytest.raises(InputRejected) as caught:
        classify_result(result(returncode=1, stderr_tail=stderr), None, "transcode")
    error = caught.value
    assert isinstance(error, SourceUndecodable) and not error.retryable
    assert error.code is ErrorCode.INVALID_INPUT
    assert error.failure.stderr_tail == stderr
    assert "Invalid data found" in str(error) and "\n" not in str(error)


def test_timeout_budget_scales_with_duration() -> None:
    assert transcode_timeout_s(3.0) == 120.0
    assert transcode_timeout_s(3600.0) == 36000.0


@pytest.mark.parametrize(
    "stderr",
    [
        "[hls @ 0x5581] Failed to open file 'v0/seg_003.m4s'\n"
        "av_interleaved_write_frame(): No space left on device\nError while writing",
        "Error writing trailer of v0/index.m3u8: Disk quota exceeded",
    ],
)
@pytest.mark.parametrize("returncode", [1, 0])
def test_a_full_disk_is_retryable_and_named(stderr: str, returncode: int) -> None:
    """Named even when ffmpeg exits 0: the HLS muxer logs a failed segment write and goes on."""
    with pytest.raises(TranscodeFailed) as caught:
        classify_result(result(returncode=returncode, stderr_tail=stderr), None, "transcode")
    assert caught.value.code is ErrorCode.DISK_FULL and caught.value.retryable
    assert "no space left on the scratch disk" in caught.value.message
