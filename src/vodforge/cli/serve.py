"""`vodforge api` (the HTTP API alone) and `vodforge up` (API, dashboard, scheduler and local
workers in one process: the embedded default)."""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

import uvicorn

from vodforge.api.app import create_app
from vodforge.bootstrap import Components
from vodforge.cli.runtime import build_runner, make_scheduler
from vodforge.errors import ConfigError
from vodforge.tenants.service import DEFAULT_TENANT
from vodforge.worker.runtime import Worker

log = logging.getLogger(__name__)

KEY_FILE = "api-key"


def serve(components: Components, host: str, port: int) -> None:
    """Run the API until SIGINT/SIGTERM (uvicorn handles both and returns)."""
    config = uvicorn.Config(
        create_app(components),
        host=host,
        port=port,
        log_config=None,  # keep vodforge's JSON log lines
        access_log=False,
        timeout_keep_alive=5,
        # Slow or never-ending clients are cut off instead of holding a worker thread.
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def cmd_api(components: Components, args: argparse.Namespace) -> int:
    print(f"vodforge api on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    serve(components, args.host, args.port)
    return 0


def first_start_key(components: Components) -> tuple[str, bool]:
    """The embedded default tenant's API key, kept owner-only in the data dir so a restart
    prints the same key. Returns (key, created now)."""
    path = components.settings.data_dir / KEY_FILE
    if path.is_file():
        key = path.read_text().strip()
        try:
            components.tenants.authenticate(key)
            return key, False
        except Exception:
            log.warning("the key in %s no longer works: issuing a new one", path)
    if components.tenants.by_name(DEFAULT_TENANT) is None:
        _, key = components.tenants.create(DEFAULT_TENANT)
    else:
        # The tenant exists (`submit` created it) but nobody holds its key: issue one.
        _, key = components.tenants.rotate_key(DEFAULT_TENANT)
    write_private(path, key)
    return key, True


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.touch(mode=0o600)
    temporary.write_text(text + "\n")
    temporary.replace(path)


def cmd_up(components: Components, args: argparse.Namespace) -> int:
    """The embedded default: API, scheduler and local workers in one process."""
    settings = components.settings
    if settings.executor != "local":
        raise ConfigError("`vodforge up` runs local workers; use VODFORGE_EXECUTOR=local")
    components.listen_for_jobs()
    key, created = first_start_key(components)
    scheduler, leader = make_scheduler(components)
    stop = threading.Event()
    worker = Worker(
        components.repo,
        build_runner(components),
        concurrency=args.workers,
        poll_interval_s=settings.poll_interval_s,
    )
    ticker = threading.Thread(
        target=scheduler.run,
        args=(stop, settings.scan_interval_s, leader),
        name="scheduler",
        daemon=True,
    )
    ticker.start()
    worker.start()
    url = f"http://{args.host}:{args.port}"
    print(f"vodforge is up: {url}  (API docs {url}/docs)", flush=True)
    print(
        f"API key for tenant {DEFAULT_TENANT!r}"
        f" ({'new' if created else 'kept'} in {settings.data_dir / KEY_FILE}): {key}",
        flush=True,
    )
    print(
        f"database {settings.database_url}, storage {settings.storage_url}, "
        f"{args.workers} worker(s). Ctrl-C stops (running jobs are given back).",
        flush=True,
    )
    if settings.internal_token_generated:
        print(f"internal token (generated for this run): {settings.internal_token}", flush=True)
    try:
        serve(components, args.host, args.port)
    finally:
        # Same as a worker's SIGTERM: stop ffmpeg and give running jobs back (QUEUED).
        stop.set()
        worker.request_shutdown()
        worker.join(timeout=30)
        ticker.join(timeout=10)
    return 0
