"""`vodforge transcode` at a terminal: a progress bar on stderr while it works, readable log
lines instead of JSON, and the same one-line result on stdout as without a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pipeline import embedded_env
from tests.support.terminal import run_on_terminal

pytestmark = pytest.mark.slow


def test_transcode_shows_progress_on_a_terminal(tmp_path: Path, cli_clip: Path) -> None:
    out = tmp_path / "hls"
    env = embedded_env(tmp_path / "vodforge-data")
    shown = run_on_terminal(["transcode", str(cli_clip), "--out", str(out)], env, timeout=120)
    assert shown.returncode == 0, shown.terminal_text
    assert shown.stdout == f"READY {out / 'master.m3u8'} (2 renditions)\n"
    assert (out / "master.m3u8").is_file()

    screen = shown.terminal_text
    assert "━" in shown.terminal and f"{cli_clip.name} " in screen
    assert "100%" in screen and "done" in screen
    # Log lines are text for a person, with the same events the JSON lines carry.
    assert "JOB_CLAIMED" in screen and "JOB_COMPLETED" in screen
    assert not any(line.lstrip().startswith('{"') for line in screen.splitlines())
    assert "Traceback" not in screen
