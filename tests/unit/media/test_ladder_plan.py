"""Ladder planning: sizes, rates and bitrates chosen for a source, by example and property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vodforge.domain.ladder import DEFAULT_RUNGS, Rendition, Rung, output_fps, plan_ladder


def sizes(ladder: tuple[Rendition, ...]) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in ladder]


def test_full_hd_landscape_gets_every_rung() -> None:
    ladder = plan_ladder(1920, 1080, 30.0, True)
    assert sizes(ladder) == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    assert all(r.fps == 30.0 and r.audio and r.crf == 21 for r in ladder)
    assert [r.video_bitrate_kbps for r in ladder] == [5000, 2800, 1400, 800]
    assert ladder[0].bufsize_kbps == 10000


def test_portrait_uses_the_short_side_for_the_rung() -> None:
    ladder = plan_ladder(1080, 1920, 30.0, False)
    assert sizes(ladder) == [
        ("1080p", 1080, 1920),
        ("720p", 720, 1280),
        ("480p", 480, 854),
        ("360p", 360, 640),
    ]
    assert not any(r.audio for r in ladder)


def test_never_upscales_a_720p_source() -> None:
    assert sizes(plan_ladder(1280, 720, 25.0, True)) == [
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]


def test_source_just_short_of_a_rung_keeps_it_at_its_own_size() -> None:
    assert sizes(plan_ladder(1916, 1076, 30.0, True))[0] == ("1080p", 1916, 1076)
    assert sizes(plan_ladder(853, 479, 30.0, True)) == [("480p", 852, 478), ("360p", 642, 360)]


def test_tiny_source_gets_one_rendition_at_its_own_even_size() -> None:
    ladder = plan_ladder(97, 65, 120.0, False)
    assert sizes(ladder) == [("64p", 96, 64)]
    assert ladder[0].fps == 60.0
    assert ladder[0].video_bitrate_kbps >= 150


@pytest.mark.parametrize(
    ("source", "expected"),
    [(120.0, 60.0), (119.88, 59.94), (100.0, 50.0), (60.0, 60.0), (50.0, 50.0),
     (29.97, 29.97), (24.0, 24.0), (90.0, 45.0), (0.0, 30.0), (float("nan"), 30.0)],
)  # fmt: skip
def test_frame_rate_is_capped_by_a_whole_divisor(source: float, expected: float) -> None:
    assert output_fps(source) == expected


def test_high_frame_rate_raises_the_bitrate_cap() -> None:
    assert plan_ladder(1280, 720, 60.0, True)[0].video_bitrate_kbps == 4200


def test_rejects_degenerate_input() -> None:
    with pytest.raises(ValueError, match="1x720"):
        plan_ladder(1, 720, 30.0, True)
    with pytest.raises(ValueError, match="rung"):
        plan_ladder(640, 360, 30.0, True, rungs=())


def test_custom_rungs_are_sorted_high_to_low() -> None:
    ladder = plan_ladder(1920, 1080, 30.0, True, rungs=(Rung(360, 700), Rung(720, 2500)))
    assert [r.name for r in ladder] == ["720p", "360p"]


dims = st.integers(min_value=2, max_value=7680)


@settings(max_examples=400, deadline=None)
@given(width=dims, height=dims, fps=st.floats(min_value=1.0, max_value=240.0), audio=st.booleans())
def test_ladder_properties(width: int, height: int, fps: float, audio: bool) -> None:
    ladder = plan_ladder(width, height, fps, audio)
    assert ladder, "a ladder is never empty"
    heights = [r.height for r in ladder]
    widths = [r.width for r in ladder]
    assert heights == sorted(heights, reverse=True) and widths == sorted(widths, reverse=True)
    assert len({(r.width, r.height) for r in ladder}) == len(ladder)
    for r in ladder:
        assert r.width % 2 == 0 and r.height % 2 == 0
        assert r.width <= width and r.height <= height, "never upscaled"
        assert r.width >= 2 and r.height >= 2
        # Aspect kept: the long side is within ~1-2 px of the exact proportional value.
        if width >= height:
            assert abs(r.width - r.height * width / height) <= 2.0 + 1e-9
        else:
            assert abs(r.height - r.width * height / width) <= 2.0 + 1e-9
        assert 0 < r.fps <= 60.0 and r.fps <= max(fps, 30.0)
        assert r.audio is audio
        assert r.video_bitrate_kbps > 0
    names = [r.name for r in ladder]
    assert len(set(names)) == len(names)
    if min(width, height) >= min(r.short_side for r in DEFAULT_RUNGS):
        assert all(n in {r.name for r in DEFAULT_RUNGS} for n in names)
