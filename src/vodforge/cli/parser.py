"""The `vodforge` command line: every command, its arguments and their checks."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vodforge import __version__
from vodforge.cli import arguments as a
from vodforge.cli import (
    operations,
    operator,
    runtime,
    scaling,
    tenants,
    transcode,
    videos,
)
from vodforge.cli.arguments import CliParser
from vodforge.cli.loglines import LOG_FORMATS
from vodforge.tenants.service import DEFAULT_TENANT

Handler = Callable[..., int]


def _serving(name: str) -> Handler:
    """A handler of cli/serve.py, imported when it runs: FastAPI, uvicorn and the API take
    about half of the CLI's import time, which every other command (a one-off `transcode`
    among them) would otherwise pay before doing anything."""

    def handler(*args: Any) -> int:
        from vodforge.cli import serve

        return int(getattr(serve, name)(*args))

    return handler


def _global_flags(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--log-level and --log-format, accepted before or after the command name. Only the top
    level sets defaults: a subcommand's default would overwrite a value given before it."""
    level = "INFO" if defaults else argparse.SUPPRESS
    fmt = "auto" if defaults else argparse.SUPPRESS
    parser.add_argument(
        "--log-level", type=a.log_level, default=level, help="debug, info, warning or error"
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=fmt,
        help="log lines on stderr: text on a terminal and JSON otherwise (auto), or forced",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="vodforge", description="Uploads in, validated HLS ladders out.")
    parser.add_argument("--version", action="version", version=f"vodforge {__version__}")
    _global_flags(parser, defaults=True)
    common = CliParser(add_help=False)
    _global_flags(common, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        handler: Handler | None,
        help_text: str,
        *,
        under: Any = sub,
        with_components: bool = True,
        json: bool = True,
    ) -> argparse.ArgumentParser:
        command: argparse.ArgumentParser = under.add_parser(
            name, help=help_text, description=help_text, parents=[common]
        )
        command.set_defaults(handler=handler, with_components=with_components)
        if json and handler is not None:
            command.add_argument("--json", action="store_true", help="machine-readable output")
        return command

    def listen(command: argparse.ArgumentParser) -> None:
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=a.port, default=8000)

    c = add("up", _serving("cmd_up"), "API, dashboard, scheduler and local workers in one process")
    listen(c)
    c.add_argument("--workers", type=a.positive_slots, default=1, help="local worker slots")
    listen(add("api", _serving("cmd_api"), "the HTTP API alone (uvicorn)"))
    c = add(
        "transcode",
        transcode.cmd_transcode,
        "run the whole pipeline on FILE and write the HLS package to --out",
    )
    c.add_argument("file", metavar="FILE")
    c.add_argument("--out", required=True, metavar="DIR")
    c = add(
        "sample",
        transcode.cmd_sample,
        "write a synthetic test clip (colour bars and a tone) to FILE",
        with_components=False,
    )
    c.add_argument("file", metavar="FILE")
    c.add_argument("--seconds", type=a.seconds_up_to(600), default=10.0)
    # worker, scheduler and run-job print no result, only log lines: no --json.
    c = add("worker", runtime.cmd_worker, "claim and run jobs until stopped", json=False)
    c.add_argument("--concurrency", type=a.positive_slots, default=1)
    c.add_argument("--max-jobs", type=a.int_between(1), default=None, help=argparse.SUPPRESS)
    add(
        "scheduler",
        runtime.cmd_scheduler,
        "expire leases, dispatch, reconcile (one acts)",
        json=False,
    )
    c = add("run-job", runtime.cmd_run_job, "run one job id (container entry point)", json=False)
    c.add_argument("job_id", nargs="?", type=a.an_id("job"), metavar="JOB_ID")
    c = add("submit", videos.cmd_submit, "store FILE, create its video and job, dispatch")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--tenant", type=a.tenant_name, default=DEFAULT_TENANT)
    c.add_argument("--title", type=a.title)
    c = add("status", videos.cmd_status, "show one video")
    c.add_argument("video_id", type=a.an_id("video"), metavar="VIDEO_ID")
    c.add_argument("--events", action="store_true", help="include the job event history")
    c = add("list", videos.cmd_list, "list videos, newest first (a table on a terminal)")
    c.add_argument("--tenant", type=a.tenant_name)
    c.add_argument("--limit", type=a.page_limit, default=50, help=f"1 to {a.MAX_PAGE}")
    c.add_argument(
        "--cursor", type=a.cursor, help="continue after the page that returned this next_cursor"
    )
    c = add("wait", videos.cmd_wait, "wait for a video to finish, with a progress bar")
    c.add_argument("video_id", type=a.an_id("video"), metavar="VIDEO_ID")
    c.add_argument("--timeout", type=a.seconds_up_to(7 * 24 * 3600), default=None)
    for name, handler, text in (
        ("cancel", videos.cmd_cancel, "cancel a video's job"),
        ("retry", videos.cmd_retry, "queue a new job for a FAILED or CANCELLED video"),
        ("delete", videos.cmd_delete, "delete a video and every stored object of it"),
    ):
        add(name, handler, text).add_argument("video_id", type=a.an_id("video"), metavar="VIDEO_ID")
    c = add("scan-stuck", operations.cmd_scan_stuck, "expire stale leases now")
    c.add_argument("--dry-run", action="store_true", help="count them, change nothing")
    c = add("reconcile", operations.cmd_reconcile, "repair what a crash between writes left")
    c.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    c = add("dead-letter", operations.cmd_dead_letter, "report a job the executor gave up on")
    c.add_argument("job_id", type=a.an_id("job"), metavar="JOB_ID")
    add("backlog", operations.cmd_backlog, "QUEUED + RETRY_WAIT, and RUNNING")
    add("scaling", scaling.cmd_scaling, "desired workers from the backlog, and why")

    db = add("db", None, "database schema").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    add(
        "upgrade",
        operations.cmd_db_upgrade,
        "apply migrations",
        under=db,
        with_components=False,
    )
    tenant = add("tenants", None, "tenants").add_subparsers(
        dest="tenants_command", required=True, metavar="ACTION"
    )
    c = add(
        "create",
        tenants.cmd_tenants_create,
        "create a tenant; its API key is shown once",
        under=tenant,
    )
    c.add_argument("name", type=a.tenant_name, metavar="NAME")
    c.add_argument(
        "--webhook-url",
        metavar="URL",
        help="send this tenant's video events here, signed with a new secret (shown once)",
    )
    c = add(
        "rotate-key",
        tenants.cmd_tenants_rotate_key,
        "give a tenant a new API key (the old one stops working at once)",
        under=tenant,
    )
    c.add_argument("name", type=a.tenant_name, metavar="NAME")
    operator.register(add)
    return parser
