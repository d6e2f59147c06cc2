"""The README quickstart as a newcomer follows it: `vodforge up`, the key from the data dir,
a multipart upload as the curl line sends it, READY, and the signed playback_url plays with
no header."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.api import free_port
from tests.support.cli import wait_for
from tests.support.pipeline import embedded_env


def test_up_upload_with_curl_and_play(tmp_path: Path) -> None:
    port = free_port()
    env = embedded_env(tmp_path / "vodforge-data")
    subprocess.run(
        [sys.executable, "-m", "vodforge", "sample", "demo.mp4", "--seconds", "3"],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "vodforge", "up", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        key_file = tmp_path / "vodforge-data" / "api-key"
        base = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            try:
                return key_file.is_file() and httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(serving, timeout=120, interval=0.2)
        headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
        with (tmp_path / "demo.mp4").open("rb") as clip:
            created = httpx.post(
                f"{base}/v1/videos",
                headers=headers,
                files={"file": ("demo.mp4", clip, "video/mp4")},
                data={"title": "Demo"},
                timeout=60,
            )
        assert created.status_code == 201, created.text
        video_id = created.json()["id"]

        def ready() -> dict[str, object] | None:
            body = httpx.get(f"{base}/v1/videos/{video_id}", headers=headers).json()
            assert body["status"] not in ("FAILED", "CANCELLED"), body
            return body if body["status"] == "READY" else None

        video = wait_for(ready, timeout=240, interval=0.5)
        master = httpx.get(str(video["playback_url"]), headers={"Origin": "https://example.com"})
        assert master.status_code == 200
        assert master.headers["access-control-allow-origin"] == "*"
        assert "#EXT-X-STREAM-INF" in master.text
    finally:
        up.terminate()
        up.wait(timeout=30)
        log.close()
