"""`vodforge api` (the HTTP API alone) and `vodforge up` (API, dashboard, scheduler and local
workers in one process: the embedded default)."""

from __future__ import annotations

import argparse
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url

from vodforge.api.app import create_app
from vodforge.api.deadlines import with_deadlines
from vodforge.bootstrap import Components
from vodforge.cli.dashboard import prepare_dashboard, public_url_for
from vodforge.cli.output import emit_line
from vodforge.cli.runtime import build_runner, make_scheduler, on_termination
from vodforge.errors import ConfigError, Unauthorized
from vodforge.tenants.service import DEFAULT_TENANT
from vodforge.worker.runtime import Worker

log = logging.getLogger(__name__)

KEY_FILE = "api-key"


class ApiServer(uvicorn.Server):
    """uvicorn, telling us once it listens (so the URL we print already answers) and letting
    our own SIGINT/SIGTERM handler stop it before it has installed its own."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.on_listening()

    def stop(self) -> None:
        self.should_exit = True


def api_server(
    components: Components, host: str, port: int, on_listening: Callable[[], None]
) -> ApiServer:
    config = uvicorn.Config(
        create_app(components),
        host=host,
        port=port,
        log_config=None,  # keep vodforge's log lines (JSON or text)
        access_log=False,
        # Slow clients: keep-alive bounds the wait between requests, this protocol the
        # request line and headers and a response the client stops reading (uvicorn has
        # neither timeout), and the app's BodyGuard the body (VODFORGE_HEADER_TIMEOUT_S,
        # VODFORGE_RESPONSE_IDLE_TIMEOUT_S, VODFORGE_BODY_*).
        http=with_deadlines(
            components.settings.header_timeout_s,
            components.settings.response_idle_timeout_s,
        ),
        timeout_keep_alive=5,
        # Requests still running at shutdown get this long to finish.
        timeout_graceful_shutdown=10,
    )
    return ApiServer(config, on_listening)


def serve(server: ApiServer) -> None:
    """Run until SIGINT/SIGTERM. uvicorn handles both while it runs, then re-raises the signal
    to the handler installed before it (ours, via on_termination), so Ctrl-C ends in an
    orderly exit 0 rather than a KeyboardInterrupt."""
    try:
        server.run()
    except SystemExit:
        if server.started:
            raise
        config = server.config
        # uvicorn has logged the OSError (address in use, unknown host) just above.
        raise ConfigError(f"could not listen on {config.host}:{config.port}") from None


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def use_listening_url(components: Components, url: str) -> None:
    public = public_url_for(components.settings, url)
    if public is not None:
        components.signer.base_url = public


def cmd_api(components: Components, args: argparse.Namespace) -> int:
    url = base_url(args.host, args.port)
    use_listening_url(components, url)
    prepare_dashboard(install=False)

    def listening() -> None:
        emit_line(
            {"url": url, "docs_url": f"{url}/docs"},
            as_json=args.json,
            text=f"vodforge api on {url} (docs at {url}/docs)",
        )

    server = api_server(components, args.host, args.port, listening)
    on_termination(server.stop)
    serve(server)
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
        except Unauthorized:
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


def startup_info(
    components: Components,
    args: argparse.Namespace,
    key: str,
    created: bool,
    dashboard_problem: str | None = None,
) -> dict[str, Any]:
    settings = components.settings
    url = base_url(args.host, args.port)
    return {
        "url": url,
        "docs_url": f"{url}/docs",
        "dashboard_url": f"{url}/",
        "dashboard_problem": dashboard_problem,
        "tenant": DEFAULT_TENANT,
        "api_key": key,
        "api_key_file": str(settings.data_dir / KEY_FILE),
        "api_key_created": created,
        # A PostgreSQL URL may carry a password: never print it.
        "database": make_url(settings.database_url).render_as_string(hide_password=True),
        "storage": settings.storage_url,
        "workers": args.workers,
        "internal_token": settings.internal_token if settings.internal_token_generated else None,
    }


def startup_text(info: dict[str, Any]) -> str:
    lines = [
        f"vodforge is up: {info['url']}  (API docs {info['docs_url']})",
        f"API key for tenant {info['tenant']!r} ({'new' if info['api_key_created'] else 'kept'}"
        f" in {info['api_key_file']}): {info['api_key']}",
        f"database {info['database']}, storage {info['storage']}, {info['workers']} worker(s)."
        " Ctrl-C stops (running jobs are given back).",
        f"Dashboard: open {info['dashboard_url']} and paste the API key."
        if not info["dashboard_problem"]
        else f"Dashboard {info['dashboard_url']}: {info['dashboard_problem']}",
    ]
    if info["internal_token"]:
        lines.append(f"internal token (generated for this run): {info['internal_token']}")
    return "\n".join(lines)


def cmd_up(components: Components, args: argparse.Namespace) -> int:
    """The embedded default: API, scheduler and local workers in one process."""
    settings = components.settings
    if settings.executor != "local":
        raise ConfigError("`vodforge up` runs local workers; use VODFORGE_EXECUTOR=local")
    components.listen_for_jobs()
    key, created = first_start_key(components)
    use_listening_url(components, base_url(args.host, args.port))
    info = startup_info(components, args, key, created, prepare_dashboard(install=True))
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

    def listening() -> None:
        # Workers claim jobs only once the port is ours: a second `up` on a busy port must
        # not take jobs and hand them straight back.
        ticker.start()
        worker.start()
        emit_line(info, as_json=args.json, text=startup_text(info))

    server = api_server(components, args.host, args.port, listening)

    def shut_down() -> None:
        # Same as a worker's SIGTERM: stop ffmpeg and give running jobs back (QUEUED).
        server.stop()
        stop.set()
        worker.request_shutdown()

    on_termination(shut_down)
    try:
        serve(server)
    finally:
        shut_down()
        if ticker.ident is not None:  # started: the server had begun listening
            worker.join(timeout=30)
            ticker.join(timeout=10)
    return 0
