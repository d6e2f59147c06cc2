"""Parsing ffmpeg -progress blocks into percent, fps, speed and ETA."""

from __future__ import annotations

import pytest

from vodforge.media.progress import Progress, ProgressParser

BLOCK = """frame=120
fps=59.94
stream_0_0_q=28.0
bitrate=N/A
total_size=N/A
out_time_us=4000000
out_time_ms=4000000
out_time=00:00:04.000000
dup_frames=0
drop_frames=0
speed=2.5x
progress=continue"""


def feed_all(parser: ProgressParser, text: str) -> list[Progress]:
    return [p for line in text.splitlines() if (p := parser.feed(line)) is not None]


def test_a_block_yields_one_report_at_its_end() -> None:
    parser = ProgressParser(duration_s=10.0)
    lines = BLOCK.splitlines()
    assert [parser.feed(line) for line in lines[:-1]] == [None] * (len(lines) - 1)
    progress = parser.feed(lines[-1])
    assert progress == Progress(
        percent=40.0, out_time_s=4.0, fps=59.94, speed=2.5, eta_s=2.4, done=False
    )


def test_end_block_is_one_hundred_percent() -> None:
    parser = ProgressParser(duration_s=10.0)
    reports = feed_all(parser, BLOCK.replace("progress=continue", "progress=end"))
    assert reports[-1].percent == 100.0 and reports[-1].done and reports[-1].eta_s == 0.0


def test_percent_is_clamped_and_unknowns_are_none() -> None:
    parser = ProgressParser(duration_s=2.0)
    over = feed_all(parser, "out_time_us=3500000\nspeed=N/A\nfps=0.00\nprogress=continue")
    assert over[0].percent == 100.0 and over[0].speed is None and over[0].eta_s is None
    start = ProgressParser(duration_s=2.0)
    first = feed_all(start, "out_time_us=N/A\nout_time=N/A\nprogress=continue")
    assert first[0].percent == 0.0 and first[0].out_time_s == 0.0
    negative = feed_all(start, "out_time_us=-9223372036854775807\nprogress=continue")
    assert negative[0].out_time_s == 0.0


def test_falls_back_to_out_time_text_and_keeps_last_time() -> None:
    parser = ProgressParser(duration_s=100.0)
    reports = feed_all(
        parser, "out_time=00:01:15.500000\nprogress=continue\nfps=30\nprogress=continue"
    )
    assert reports[0].out_time_s == pytest.approx(75.5)
    assert reports[0].percent == pytest.approx(75.5)
    assert reports[1].out_time_s == pytest.approx(75.5), "a block without time keeps the last"


def test_ignores_noise_and_unknown_duration() -> None:
    parser = ProgressParser(duration_s=0.0)
    reports = feed_all(parser, "garbage line\n\nout_time_us=1000000\nprogress=continue\n")
    assert len(reports) == 1 and reports[0].percent == 0.0 and reports[0].out_time_s == 1.0
    assert parser.last == reports[0]


def test_progress_never_goes_backwards() -> None:
    parser = ProgressParser(duration_s=10.0)
    reports = feed_all(
        parser,
        "out_time_us=8000000\nprogress=continue\nout_time_us=7500000\nprogress=continue\n",
    )
    assert [r.out_time_s for r in reports] == [8.0, 8.0]
    assert [r.percent for r in reports] == [80.0, 80.0]
