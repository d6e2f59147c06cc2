"""Clips for the CLI pipeline tests, generated once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.clips import make_audio_only, make_clip


@pytest.fixture(scope="session")
def cli_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 854x480 with audio: a 480p and a 360p rendition."""
    return make_clip(
        tmp_path_factory.mktemp("cli-clips") / "lesson.mp4",
        width=854,
        height=480,
        fps=24,
        duration_s=2,
    )


@pytest.fixture(scope="session")
def cli_audio_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio_only(tmp_path_factory.mktemp("cli-audio") / "podcast.mp4")
