"""`vodforge up` and `vodforge api` as a user runs them: real processes on the embedded
default (SQLite and local storage in a fresh data dir) on a free loopback port."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.api import free_port
from tests.support.cli import REPO_ROOT, log_events, run_cli, run_json, wait_for
from tests.support.pipeline import embedded_env, stderr_lines
from tests.support.procs import live_processes_mentioning


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def printed(self, lines: int, timeout: float = 30) -> list[str]:
        """The first `lines` lines of stdout, once the process has printed them."""

        def ready() -> list[str] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.stderr.read_text()}")
            text = self.stdout.read_text()
            found = text.splitlines()
            return found[:lines] if len(found) >= lines and text.endswith("\n") else None

        return list(wait_for(ready, timeout=timeout))

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 20) -> tuple[int, float]:
        """Send `sig` as Ctrl-C or `kill` would; the exit code and how long the exit took."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started


@contextmanager
def serving(args: list[str], env: dict[str, str], logs: Path) -> Iterator[Served]:
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / "stdout.txt", logs / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vodforge", *args],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:
            yield Served(proc, stdout, stderr)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def up_env(data_dir: Path, **extra: str) -> dict[str, str]:
    # PYTHONPATH: VODFORGE_WORK may name test work in tests.support.
    return embedded_env(data_dir, PYTHONPATH=str(REPO_ROOT), **extra)


def videos(url: str, key: str) -> httpx.Response:
    return httpx.get(f"{url}/v1/videos", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_first_start_prints_url_and_key_and_a_restart_keeps_the_key(tmp_path: Path) -> None:
    data = tmp_path / "vodforge-data"
    env = up_env(data)
    port = free_port()
    with serving(["up", "--port", str(port)], env, tmp_path / "first") as up:
        banner, key_line, *_ = up.printed(3)
        url = f"http://127.0.0.1:{port}"
        assert banner.startswith(f"vodforge is up: {url} ")
        assert key_line.startswith(f"API key for tenant 'default' (new in {data / 'api-key'}): ")
        key = key_line.rsplit(": ", 1)[1]
        assert key.startswith("vf_")

        listed = videos(url, key)
        assert listed.status_code == 200 and listed.json() == {"items": [], "next_cursor": None}
        assert videos(url, "vf_not-a-key").status_code == 401

        key_file = data / "api-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_file.read_text().strip() == key

        # Another process on the same data dir makes a tenant: its key works at once.
        acme = run_json(["tenants", "create", "acme"], env)
        assert videos(url, acme["api_key"]).status_code == 200
        rotated = run_json(["tenants", "rotate-key", "acme"], env)
        assert videos(url, rotated["api_key"]).status_code == 200
        assert videos(url, acme["api_key"]).status_code == 401

        code, took = up.stop(signal.SIGINT)
        assert code == 0 and took < 10
    assert "Traceback" not in (tmp_path / "first" / "stderr.txt").read_text()

    with serving(["up", "--port", str(port), "--json"], env, tmp_path / "second") as up:
        (line,) = up.printed(1)
        info = json.loads(line)
        assert info["url"] == f"http://127.0.0.1:{port}" and info["tenant"] == "default"
        assert info["api_key"] == key and info["api_key_created"] is False
        assert info["api_key_file"] == str(data / "api-key") and info["workers"] == 1
        assert videos(info["url"], key).status_code == 200
        assert up.stop(signal.SIGTERM)[0] == 0


def test_ctrl_c_gives_the_running_job_back(tmp_path: Path) -> None:
    data = tmp_path / "vodforge-data"
    # A job that runs a 60 s child process instead of ffmpeg.
    env = up_env(data, VODFORGE_WORK="tests.support.work:sleepy_work", VODFORGE_TEST_SLEEP_S="60")
    port = free_port()
    with serving(["up", "--port", str(port), "--json"], env, tmp_path / "up") as up:
        info = json.loads(up.printed(1)[0])
        source = tmp_path / "upload.mp4"
        source.write_bytes(b"x")
        video = run_json(["submit", str(source)], env)

        def running() -> bool:
            response = httpx.get(
                f"{info['url']}/v1/videos/{video['id']}",
                headers={"Authorization": f"Bearer {info['api_key']}"},
                timeout=10,
            )
            return bool(response.json()["job"]["state"] == "RUNNING")

        wait_for(running, timeout=20, interval=0.2)
        assert live_processes_mentioning("time.sleep(60")
        code, took = up.stop(signal.SIGINT)
        assert code == 0, (tmp_path / "up" / "stderr.txt").read_text()
        assert took < 10

    status = run_json(["status", video["id"]], env)
    assert status["job"]["state"] == "QUEUED" and status["job"]["attempt_count"] == 0
    # The video stays in the pipeline (PROCESSING from its first claim until it ends).
    assert status["status"] == "PROCESSING" and status["error"] is None
    assert not live_processes_mentioning("time.sleep(60")
    events = [e.get("event") for e in log_events(tmp_path / "up" / "stderr.txt")]
    assert "JOB_RELEASED" in events and events[-1] == "WORKER_STOPPED"


def test_api_serves_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = up_env(tmp_path / "vodforge-data")
    port = free_port()
    with serving(["api", "--port", str(port), "--json"], env, tmp_path / "api") as api:
        info = json.loads(api.printed(1)[0])
        assert info == {
            "url": f"http://127.0.0.1:{port}",
            "docs_url": f"http://127.0.0.1:{port}/docs",
        }
        health = httpx.get(f"{info['url']}/healthz", timeout=10)
        assert health.status_code == 200 and health.json() == {"ok": True, "checks": []}
        assert api.stop(signal.SIGTERM)[0] == 0


def test_a_busy_port_is_a_one_line_error(tmp_path: Path) -> None:
    env = up_env(tmp_path / "vodforge-data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in ("up", "api"):
            result = run_cli([command, "--port", str(port)], env, timeout=30)
            assert result.returncode == 1 and result.stdout == ""
            _, other = stderr_lines(result.stderr)
            assert other == [f"error: CONFIG_ERROR: could not listen on 127.0.0.1:{port}"]
