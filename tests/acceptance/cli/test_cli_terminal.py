"""The CLI at a terminal (a pseudo-terminal): a table for `list`, a progress bar for `wait`,
readable log lines; and none of that for pipes, --json or an explicit --log-format."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import cli_env, run_cli, run_json
from tests.support.terminal import run_on_terminal

UNKNOWN_JOB = "6b0f3c55-1d7e-4c1a-9a51-2f0d9c7e4b10"


def env_with_videos(tmp_path: Path, count: int) -> tuple[dict[str, str], list[str]]:
    env = cli_env(f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path / "data")
    source = tmp_path / "lecture.mp4"
    source.write_bytes(b"x")
    ids = [
        run_json(["submit", str(source), "--title", f"Week {n}"], env)["id"] for n in range(count)
    ]
    return env, ids


def test_list_is_a_table_on_a_terminal(tmp_path: Path) -> None:
    env, ids = env_with_videos(tmp_path, 3)
    run_json(["cancel", ids[0]], env)
    shown = run_on_terminal(["list", "--limit", "2"], env, stdout_on_terminal=True)
    assert shown.returncode == 0
    assert "\x1b[" in shown.terminal  # coloured
    rows = [line.split() for line in shown.terminal_text.splitlines() if line.strip()]
    assert rows[0] == ["id", "status", "progress", "title", "tenant", "created", "(UTC)"]
    assert [row[:5] for row in rows[1:3]] == [
        [ids[2], "UPLOADED", "0%", "Week", "2"],
        [ids[1], "UPLOADED", "0%", "Week", "1"],
    ]
    assert rows[3][:3] == ["more:", "vodforge", "list"]  # the next page, ready to paste

    # The same command into a pipe: plain lines, no escape codes.
    piped = run_cli(["list", "--limit", "2"], env)
    assert "\x1b[" not in piped.stdout
    assert [line.split()[0] for line in piped.stdout.splitlines()[:2]] == [ids[2], ids[1]]


def test_wait_draws_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    env, (video_id,) = env_with_videos(tmp_path, 1)
    shown = run_on_terminal(["wait", video_id, "--timeout", "1"], env)
    assert shown.returncode == 1  # no worker: the timeout passes
    assert "━" in shown.terminal and "UPLOADED queued" in shown.terminal_text
    assert shown.stdout == f"{video_id} UPLOADED 0% Week 0\n"  # the result stays on stdout

    # --json keeps the terminal clean even when stderr is one.
    quiet = run_on_terminal(["wait", video_id, "--timeout", "0.2", "--json"], env)
    assert quiet.returncode == 1 and quiet.terminal == ""
    assert json.loads(quiet.stdout)["status"] == "UPLOADED"

    # stderr into a pipe: no bar either.
    piped = run_cli(["wait", video_id, "--timeout", "0.2"], env)
    assert piped.returncode == 1 and piped.stderr == ""


def test_log_lines_are_text_on_a_terminal_and_json_otherwise(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path / "data")
    # run-job with an id nobody queued logs one JOB_NOT_FOUND line and exits 0.
    shown = run_on_terminal(["run-job", UNKNOWN_JOB], env)
    assert shown.returncode == 0
    lines = [line for line in shown.terminal_text.splitlines() if line.strip()]
    assert len(lines) == 1 and not lines[0].lstrip().startswith("{")
    assert "WARNING" in lines[0] and f"JOB_NOT_FOUND job_id={UNKNOWN_JOB}" in lines[0]

    forced_json = run_on_terminal(["--log-format", "json", "run-job", UNKNOWN_JOB], env)
    (line,) = [line for line in forced_json.terminal.splitlines() if line.strip()]
    record = json.loads(line)
    assert (record["event"], record["job_id"], record["level"]) == (
        "JOB_NOT_FOUND",
        UNKNOWN_JOB,
        "warning",
    )

    piped = run_cli(["run-job", UNKNOWN_JOB], env)  # auto, stderr a pipe: JSON
    assert json.loads(piped.stderr)["event"] == "JOB_NOT_FOUND"

    forced_text = run_cli(["run-job", UNKNOWN_JOB, "--log-format", "text"], env)
    (text,) = forced_text.stderr.splitlines()
    assert "\x1b[" not in text  # no colours into a file
    clock, level, rest = text.split(" ", 2)
    assert len(clock) == 8 and clock.count(":") == 2 and level == "WARNING"
    assert rest.strip() == f"JOB_NOT_FOUND job_id={UNKNOWN_JOB}"
