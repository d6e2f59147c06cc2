"""`vodforge`: parses the command line, reads settings once, runs one command."""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import os
import signal
import sys
from collections.abc import Sequence

from vodforge.bootstrap import open_components
from vodforge.cli.loglines import log_handler
from vodforge.cli.output import fail
from vodforge.cli.parser import build_parser
from vodforge.errors import InputRejected, VodforgeError
from vodforge.logs import configure_logging
from vodforge.settings import Settings

# The API's request threads (anyio's pool holds 40) share the database pool with the loops.
API_CONNECTIONS = 20


def pool_size(args: argparse.Namespace) -> int:
    slots = max(getattr(args, "concurrency", 1), getattr(args, "workers", 1))
    pool = max(5, slots * 2 + 2)
    return pool + API_CONNECTIONS if args.command in ("api", "up") else pool


# Services wait this long for a database that is restarting or failing over as they start
# (one-shot commands report it at once): under a supervisor, exiting would only restart them.
SERVICE_DATABASE_WAIT_S = 60.0
SERVICES = ("api", "up", "scheduler", "worker", "run-job")


def database_wait_s(args: argparse.Namespace) -> float:
    return SERVICE_DATABASE_WAIT_S if args.command in SERVICES else 0.0


@functools.cache
def leave_the_heap_to_the_os() -> None:
    """At interpreter exit, freeze the heap so the final garbage collection skips it: every
    resource is closed explicitly before then, the OS takes the memory back at once, and
    collecting a heap this size took 0.2-0.4 s of every command's exit on a 2-core machine.
    Registered once, at exit only: tests that call main() in-process keep a normal heap."""
    atexit.register(gc.freeze)


def main(argv: Sequence[str] | None = None) -> int:
    leave_the_heap_to_the_os()
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, log_handler(args.log_format))
    try:
        if getattr(args, "reads_settings", False):  # doctor: a bad variable is a finding
            return int(args.handler(args))
        settings = Settings.from_env()
        if not args.with_components:
            return int(args.handler(settings, args))
        components = open_components(
            settings, pool_size=pool_size(args), wait_for_database_s=database_wait_s(args)
        )
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
    except BrokenPipeError:
        # `vodforge list --json | head`: the reader left. Exit as a killed writer would, and
        # point stdout at /dev/null so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
