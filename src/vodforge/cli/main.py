"""`vodforge`: parses the command line, reads settings once, runs one command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from vodforge import __version__
from vodforge.bootstrap import Components, open_components
from vodforge.cli import runtime, serve, transcode, videos
from vodforge.cli.output import fail
from vodforge.errors import InputRejected, VodforgeError
from vodforge.logs import configure_logging
from vodforge.settings import Settings
from vodforge.tenants.service import DEFAULT_TENANT

Command = Callable[[Components, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vodforge", description="Uploads in, validated HLS ladders out."
    )
    parser.add_argument("--version", action="version", version=f"vodforge {__version__}")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Command | None, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    def json_flag(command: argparse.ArgumentParser) -> None:
        command.add_argument("--json", action="store_true", help="machine-readable output")

    c = add("up", serve.cmd_up, "API, dashboard, scheduler and local workers in one process")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=8000)
    c.add_argument("--workers", type=int, default=1)
    c = add("api", serve.cmd_api, "the HTTP API alone (uvicorn)")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=8000)
    c = add(
        "transcode",
        transcode.cmd_transcode,
        "run the whole pipeline on FILE and write the HLS package to --out",
    )
    c.add_argument("file")
    c.add_argument("--out", required=True)
    json_flag(c)
    c = add("sample", None, "write a synthetic test clip (colour bars and a tone) to FILE")
    c.add_argument("file")
    c.add_argument("--seconds", type=float, default=10.0)
    c = add("worker", runtime.cmd_worker, "claim and run jobs until stopped")
    c.add_argument("--concurrency", type=int, default=1)
    c.add_argument("--max-jobs", type=int, default=None, help=argparse.SUPPRESS)
    add("scheduler", runtime.cmd_scheduler, "expire leases, dispatch, reconcile (one acts)")
    c = add("run-job", runtime.cmd_run_job, "run one job id (container entry point)")
    c.add_argument("job_id", nargs="?")
    c = add("submit", videos.cmd_submit, "store FILE, create its video and job, dispatch")
    c.add_argument("file")
    c.add_argument("--tenant", default=DEFAULT_TENANT)
    c.add_argument("--title")
    json_flag(c)
    c = add("status", videos.cmd_status, "show one video")
    c.add_argument("video_id")
    c.add_argument("--events", action="store_true", help="include the job event history")
    json_flag(c)
    c = add("list", videos.cmd_list, "list videos, newest first")
    c.add_argument("--tenant")
    c.add_argument("--limit", type=int, default=50)
    c.add_argument("--cursor", help="continue after the page that returned this next_cursor")
    json_flag(c)
    c = add("wait", videos.cmd_wait, "wait for a video to finish, with a progress bar")
    c.add_argument("video_id")
    c.add_argument("--timeout", type=float, default=None)
    json_flag(c)
    for name, handler, text in (
        ("cancel", videos.cmd_cancel, "cancel a video's job"),
        ("retry", videos.cmd_retry, "queue a new job for a FAILED or CANCELLED video"),
        ("delete", videos.cmd_delete, "delete a video and every stored object of it"),
    ):
        c = add(name, handler, text)
        c.add_argument("video_id")
        json_flag(c)
    c = add("scan-stuck", runtime.cmd_scan_stuck, "expire stale leases now")
    c.add_argument("--dry-run", action="store_true")
    json_flag(c)
    c = add("reconcile", runtime.cmd_reconcile, "repair what a crash between writes left")
    c.add_argument("--dry-run", action="store_true")
    json_flag(c)
    c = add("dead-letter", videos.cmd_dead_letter, "report a job the executor gave up on")
    c.add_argument("job_id")
    json_flag(c)
    c = add("backlog", videos.cmd_backlog, "QUEUED + RETRY_WAIT, and RUNNING")
    json_flag(c)
    db = add("db", None, "database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(handler=None)
    tenants = add("tenants", None, "tenants")
    tenants_sub = tenants.add_subparsers(dest="tenants_command", required=True, metavar="ACTION")
    c = tenants_sub.add_parser("create", help="create a tenant and print its API key once")
    c.set_defaults(handler=videos.cmd_tenants_create)
    c.add_argument("name")
    json_flag(c)
    c = tenants_sub.add_parser("rotate-key", help="give a tenant a new API key (the old one stops)")
    c.set_defaults(handler=videos.cmd_tenants_rotate_key)
    c.add_argument("name")
    json_flag(c)
    return parser


def cmd_db_upgrade(settings: Settings) -> int:
    from vodforge.db.engine import make_engine
    from vodforge.db.migrate import current_revision, upgrade

    engine = make_engine(settings.database_url, null_pool=True)
    try:
        upgrade(engine)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def cmd_sample(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from vodforge.media.ffmpeg import find_ffmpeg
    from vodforge.media.sample import make_sample

    out = make_sample(find_ffmpeg(settings.ffmpeg_path), Path(args.file), args.seconds)
    print(f"wrote {out} ({args.seconds:g} s, 1280x720, 30 fps, AAC)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level.upper())
    try:
        settings = Settings.from_env()
        if args.command == "db":
            return cmd_db_upgrade(settings)
        if args.command == "sample":
            return cmd_sample(settings, args)
        pool = max(5, getattr(args, "concurrency", 1) * 2 + 2, getattr(args, "workers", 1) * 2 + 2)
        if args.command in ("api", "up"):
            pool += 20  # the API's request threads (anyio's pool holds 40) share the pool
        components = open_components(settings, pool_size=pool)
        try:
            return int(args.handler(components, args))
        finally:
            components.close()
    except InputRejected as exc:
        fail(f"{exc.code.value}: {exc.message}")
        return 2
    except VodforgeError as exc:
        fail(f"{exc.code.value}: {exc.message}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
