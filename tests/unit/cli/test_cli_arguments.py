"""The command line refuses what the API refuses, before anything runs: exit 2 with one
`error:` line on stderr. Checked in-process through `main`, as the console script calls it."""

from __future__ import annotations

import argparse

import pytest

from vodforge.cli.main import main
from vodforge.cli.parser import build_parser

VIDEO = "3f1c2b8e-52c4-4a07-9d5e-0c6b1f2a9d11"

USAGE_ERRORS = [
    (["tenants", "create", ""], "tenant name '' is not valid"),
    (["tenants", "create", "two words"], "tenant name 'two words' is not valid"),
    (["tenants", "create", "acme/eu"], "is not valid"),
    (["tenants", "create", "a" * 101], "is not valid"),
    (["tenants", "create", "--", "-acme"], "tenant name '-acme' is not valid"),
    (["tenants", "rotate-key", "bad name"], "is not valid"),
    (["submit", "clip.mp4", "--tenant", ""], "tenant name '' is not valid"),
    (["submit", "clip.mp4", "--title", "   "], "a title is 1-500 printable characters"),
    (["list", "--tenant", "x y"], "is not valid"),
    (["worker", "--concurrency", "0"], "argument --concurrency: 0 is out of range"),
    (["worker", "--concurrency", "many"], "'many' is not a whole number"),
    (["up", "--workers", "0"], "argument --workers: 0 is out of range"),
    (["up", "--port", "0"], "argument --port: 0 is out of range: from 1 to 65535"),
    (["api", "--port", "70000"], "argument --port: 70000 is out of range"),
    (["list", "--limit", "-5"], "argument --limit: -5 is out of range: from 1 to 100"),
    (["list", "--limit", "0"], "argument --limit: 0 is out of range"),
    (["list", "--limit", "1000"], "argument --limit: 1000 is out of range"),
    (["list", "--cursor", "not-a-cursor"], "is not one this API returned"),
    (["list", "--cursor", "x" * 201], "a cursor is at most 200 characters"),
    (["wait", VIDEO, "--timeout", "-1"], "argument --timeout: -1 is out of range"),
    (["wait", VIDEO, "--timeout", "nan"], "argument --timeout: nan is out of range"),
    (["sample", "clip.mp4", "--seconds", "0"], "argument --seconds: 0 is out of range"),
    (["sample", "clip.mp4", "--seconds", "ten"], "'ten' is not a number of seconds"),
    (["status", "42"], "argument VIDEO_ID: '42' is not a video id"),
    (["wait", "../etc/passwd"], "is not a video id"),
    (["cancel", "nope"], "is not a video id"),
    (["retry", "nope"], "is not a video id"),
    (["delete", "nope"], "is not a video id"),
    (["dead-letter", "nope"], "argument JOB_ID: 'nope' is not a job id"),
    (["run-job", "nope"], "is not a job id"),
    (["--log-level", "loud", "backlog"], "'loud' is not one of debug, info, warning, error"),
    (["backlog", "--log-format", "xml"], "argument --log-format: invalid choice: 'xml'"),
    (["transcode", "clip.mp4"], "the following arguments are required: --out"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    (["tenants"], "the following arguments are required: ACTION"),
    (["worker", "--json"], "unrecognized arguments: --json"),
]


@pytest.mark.parametrize(
    ("argv", "message"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS]
)
def test_bad_arguments_are_one_line_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert lines[0].endswith("--help`)")


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_ids_are_read_in_the_form_the_database_stores() -> None:
    assert parse(["status", VIDEO.upper()]).video_id == VIDEO
    assert parse(["dead-letter", VIDEO.replace("-", "")]).job_id == VIDEO


def test_values_inside_the_bounds_are_accepted() -> None:
    assert parse(["list", "--limit", "1"]).limit == 1
    assert parse(["list", "--limit", "100"]).limit == 100
    assert parse(["up", "--port", "65535", "--workers", "4"]).port == 65535
    assert parse(["wait", VIDEO, "--timeout", "0.5"]).timeout == 0.5
    assert parse(["tenants", "create", "acme.eu_1-b"]).name == "acme.eu_1-b"
    assert parse(["tenants", "create", "a" * 100]).name == "a" * 100
    assert parse(["submit", "f", "--title", "  Week 1  "]).title == "Week 1"


def test_log_flags_work_before_or_after_the_command() -> None:
    assert (parse(["backlog"]).log_format, parse(["backlog"]).log_level) == ("auto", "INFO")
    before = parse(["--log-format", "text", "--log-level", "debug", "backlog"])
    after = parse(["backlog", "--log-format", "json", "--log-level", "warning"])
    assert (before.log_format, before.log_level) == ("text", "DEBUG")
    assert (after.log_format, after.log_level) == ("json", "WARNING")
    nested = parse(["tenants", "create", "acme", "--log-format", "text"])
    assert nested.log_format == "text"


def subcommands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                inner = subcommands(child, f"{prefix}{name} ")
                found.update(inner or {f"{prefix}{name}": child})
    return found


def test_every_command_that_prints_a_result_takes_json() -> None:
    commands = subcommands(build_parser())

    def takes_json(name: str) -> bool:
        return any("--json" in action.option_strings for action in commands[name]._actions)

    printing = [
        "up", "api", "transcode", "sample", "submit", "status", "list", "wait", "cancel",
        "retry", "delete", "scan-stuck", "reconcile", "dead-letter", "backlog", "db upgrade",
        "tenants create", "tenants rotate-key",
    ]  # fmt: skip
    assert [name for name in printing if not takes_json(name)] == []
    # These print only log lines: there is no result to make machine-readable.
    assert [name for name in ("worker", "scheduler", "run-job") if takes_json(name)] == []
