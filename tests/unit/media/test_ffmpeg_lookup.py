"""Finding the ffmpeg binary: explicit override, PATH, bundled wheel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vodforge.errors import ConfigError
from vodforge.media.ffmpeg import find_ffmpeg


def test_default_is_an_executable() -> None:
    found = find_ffmpeg()
    assert os.access(found, os.X_OK)
    assert find_ffmpeg(None) == found


def test_override_must_be_executable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        find_ffmpeg(str(tmp_path / "missing-ffmpeg"))
    plain = tmp_path / "ffmpeg"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError):
        find_ffmpeg(str(plain))
    plain.chmod(0o755)
    assert find_ffmpeg(str(plain)) == str(plain)
