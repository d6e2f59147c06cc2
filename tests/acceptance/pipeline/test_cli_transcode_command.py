"""`vodforge transcode FILE --out DIR` as a user runs it, without a terminal: a playable
package for a good clip, and a clean one-line refusal with exit 2 for a hostile one."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.pipeline import embedded_env, signed_playback_file, stderr_lines

pytestmark = pytest.mark.slow

VIDEO_FIELDS = {
    "id", "tenant", "title", "status", "progress", "duration_s", "width", "height",
    "renditions", "playback_url", "thumbnail_url", "error", "job", "created_at", "updated_at",
}  # fmt: skip


def transcode(
    tmp_path: Path, source: Path, out: Path, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vodforge", "transcode", str(source), "--out", str(out), *extra],
        env=embedded_env(tmp_path / "vodforge-data"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def uris(playlist: Path) -> list[str]:
    """Every URI a playlist names: its media lines and its EXT-X-MAP."""
    found = []
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXT-X-MAP:URI="):
            found.append(line.split('"')[1])
        elif line and not line.startswith("#"):
            found.append(line)
    return found


def test_transcode_writes_a_standalone_package_and_the_video_json(
    tmp_path: Path, cli_clip: Path
) -> None:
    out = tmp_path / "hls"
    result = transcode(tmp_path, cli_clip, out, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    data = json.loads(result.stdout)
    assert set(data) >= VIDEO_FIELDS and set(data) - VIDEO_FIELDS == {"out"}
    assert data["out"] == str(out.resolve())
    assert data["tenant"] == "default" and data["title"] == "lesson.mp4"
    assert data["status"] == "READY" and data["error"] is None
    assert data["progress"] == {"percent": 100.0, "stage": "done"}
    assert data["duration_s"] == pytest.approx(2.0, abs=0.2)
    assert (data["width"], data["height"]) == (854, 480)
    assert [(r["name"], r["width"], r["height"]) for r in data["renditions"]] == [
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    assert all(set(r) == {"name", "width", "height", "bandwidth"} for r in data["renditions"])
    assert all(isinstance(r["bandwidth"], int) and r["bandwidth"] > 0 for r in data["renditions"])
    assert data["job"]["state"] == "SUCCEEDED"
    assert set(data["job"]) == {"id", "state", "attempt_count", "max_attempts"}
    assert (data["job"]["attempt_count"], data["job"]["max_attempts"]) == (1, 5)
    for stamp in ("created_at", "updated_at"):
        assert data[stamp].endswith("Z")
    assert data["created_at"] <= data["updated_at"]
    # The URLs are signed playback URLs of the published package, naming files it holds.
    env = embedded_env(tmp_path / "vodforge-data")
    for url in (data["playback_url"], data["thumbnail_url"]):
        assert (out / signed_playback_file(url, env, data)).is_file()

    # OUT plays on its own: every URI in every playlist is a file beside it.
    master = out / "master.m3u8"
    assert master.is_file()
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in master.read_text()
    assert uris(master) == [f"{r['name']}/index.m3u8" for r in data["renditions"]]
    for rendition in data["renditions"]:
        playlist = out / rendition["name"] / "index.m3u8"
        assert playlist.is_file()
        named = uris(playlist)
        assert named and all((playlist.parent / uri).is_file() for uri in named)
    assert (out / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"


def write_empty(path: Path, _clip: Path, _audio: Path) -> None:
    path.write_bytes(b"")


def write_random(path: Path, _clip: Path, _audio: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(200_000))


def write_text(path: Path, _clip: Path, _audio: Path) -> None:
    path.write_text("week 3 reading list\n" * 30)


def write_hls_playlist(path: Path, clip: Path, _audio: Path) -> None:
    path.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
        f"#EXTINF:2.0,\n{clip}\n#EXT-X-ENDLIST\n"
    )


def write_concat_list(path: Path, clip: Path, _audio: Path) -> None:
    path.write_text(f"ffconcat version 1.0\nfile '{clip}'\n")


def copy_audio_only(path: Path, _clip: Path, audio: Path) -> None:
    path.write_bytes(audio.read_bytes())


Writer = Callable[[Path, Path, Path], None]


@pytest.mark.parametrize(
    ("write", "code"),
    [
        (write_empty, "INVALID_INPUT"),
        (write_random, "UNSUPPORTED_FORMAT"),
        (write_text, "INVALID_INPUT"),
        (write_hls_playlist, "UNSUPPORTED_FORMAT"),
        (write_concat_list, "UNSUPPORTED_FORMAT"),
        (copy_audio_only, "NO_VIDEO_STREAM"),
    ],
    ids=["empty", "random-bytes", "text", "hls-playlist", "concat-list", "audio-only"],
)
def test_hostile_inputs_are_rejected_with_exit_2_and_one_line(
    tmp_path: Path, cli_clip: Path, cli_audio_only: Path, write: Writer, code: str
) -> None:
    upload = tmp_path / "upload.mp4"
    write(upload, cli_clip, cli_audio_only)
    out = tmp_path / "hls"

    started = time.monotonic()
    result = transcode(tmp_path, upload, out, "--json", timeout=30)
    assert time.monotonic() - started < 10

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    events, other = stderr_lines(result.stderr)
    assert len(other) == 1, result.stderr
    assert other[0].startswith(f"error: {code}: ")
    assert [e["code"] for e in events if e["event"] == "JOB_FAILED"] == [code]
    data = json.loads(result.stdout)
    assert data["status"] == "FAILED"
    assert data["error"]["code"] == code
    assert data["job"]["state"] == "FAILED" and data["job"]["attempt_count"] == 1
    assert data["playback_url"] is None and data["renditions"] == []
    assert not out.exists()


def test_a_missing_file_is_a_clean_rejection(tmp_path: Path) -> None:
    result = transcode(tmp_path, tmp_path / "no-such-video.mp4", tmp_path / "hls", timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: INVALID_INPUT: {tmp_path / 'no-such-video.mp4'} is not a readable file"
    ]
    assert not (tmp_path / "hls").exists()


def test_a_non_empty_out_dir_is_refused_before_anything_runs(
    tmp_path: Path, cli_clip: Path
) -> None:
    out = tmp_path / "hls"
    out.mkdir()
    (out / "keep-me.txt").write_text("mine")
    result = transcode(tmp_path, cli_clip, out, timeout=30)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: CONFIG_ERROR: ")
    assert "must be an empty or new directory" in lines[0]
    assert [p.name for p in out.iterdir()] == ["keep-me.txt"]
