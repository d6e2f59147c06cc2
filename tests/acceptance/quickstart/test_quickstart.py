"""The README quickstart's pipeline-only line, minus the install: sample, then transcode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_sample_then_transcode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODFORGE_")}
    env["VODFORGE_DATA_DIR"] = str(tmp_path / "vodforge-data")

    def vodforge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vodforge", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )

    sample = vodforge("sample", "demo.mp4", "--seconds", "4")
    assert sample.returncode == 0, sample.stderr
    result = vodforge("transcode", "demo.mp4", "--out", "demo-hls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("READY")
    out = tmp_path / "demo-hls"
    master = (out / "master.m3u8").read_text()
    for rendition in ("720p", "480p", "360p"):
        assert f"{rendition}/index.m3u8" in master
        assert (out / rendition / "index.m3u8").is_file()
    assert (out / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"
