"""A PostgreSQL cluster and a Redis server of the test's own, which it may stop, restart and
stall without touching the machine's shared servers."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import psycopg
import redis

from tests.support.databases import require_service

REDIS_SERVER = "/usr/bin/redis-server"
DATABASE = "vodforge"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin_dir() -> Path | None:
    """The newest installed server's bin directory (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    return Path(found[-1]).parent if found else None


def _version_key(path: str) -> int:
    version = Path(path).parents[1].name
    return int(version) if version.isdigit() else 0


def _wait_until(ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not ready within {timeout} s")


class PgCluster:
    """A PostgreSQL cluster of the test's own (initdb in a temp dir, /usr/lib/postgresql/*/bin),
    on a free loopback port, trust auth, so the test may stop and restart it without touching
    the machine's shared server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._bin = pg_bin_dir()
        self._home: Path | None = None  # our own directory: the test's may be mode 700
        self._initialised = False

    @property
    def data_dir(self) -> Path:
        assert self._home is not None
        return self._home / "data"

    @property
    def log_path(self) -> Path:
        assert self._home is not None
        return self._home / "postgres.log"

    def _run(self, *args: str) -> None:
        """Runs a server binary, as the `postgres` user when we are root (postgres refuses
        to run as root)."""
        assert self._bin is not None
        argv = [str(self._bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(
            argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr[-2000:]}")

    def _initdb(self) -> None:
        self._home = Path(tempfile.mkdtemp(prefix="vodforge-pg-"))
        self._home.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self._home, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self._home}'\n"
                # Throwaway data: durability only slows every commit down.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 100\nshared_buffers = 32MB\n"
            )
        self._initialised = True

    def start(self) -> None:
        """Starts the server and waits until it accepts connections; creates the database
        on the first start."""
        if not self._initialised:
            self._initdb()
        self._run("pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data_dir),
                  "-l", str(self.log_path))  # fmt: skip
        _wait_until(self._accepts, "PostgreSQL")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def stop(self, mode: str = "fast") -> None:
        """`fast` by default: the server ends every session (clients see "terminating
        connection due to administrator command") and shuts down cleanly, as in a managed
        database's restart; `immediate` is a crash, recovered from WAL on the next start."""
        self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", str(self.data_dir))

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return self._initialised and (self.data_dir / "postmaster.pid").exists()

    def close(self) -> None:
        """Stops the server (if it runs) and removes the cluster, keeping its log in root."""
        if self._home is None:
            return
        if self.running():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.log_path, self.root / "postgres.log")
        shutil.rmtree(self._home, ignore_errors=True)
        self._home = None
        self._initialised = False

    def __enter__(self) -> PgCluster:
        require_service(
            "PostgreSQL server binaries (/usr/lib/postgresql/*/bin)", self._bin is not None
        )
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def pg_cluster(root: Path) -> Iterator[PgCluster]:
    with PgCluster(root) as cluster:
        yield cluster


class RedisServer:
    """A redis-server of the test's own on a free port (/usr/bin/redis-server, --save ''
    --appendonly no)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stalled = False

    def start(self) -> None:
        """Starts the server (empty: nothing is persisted) and waits until it answers PING."""
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "redis.log").open("ab")
        self._proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.root),
             "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        _wait_until(self._answers, "Redis")

    def _answers(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self._proc.returncode}")
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """The process exits: new connections are refused, open ones are closed."""
        if self._proc is None:
            return
        self.resume()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def stall(self) -> None:
        """SIGSTOP: the kernel still accepts connections, but nothing is ever answered."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)
        self._stalled = True

    def resume(self) -> None:
        if self._proc is not None and self._stalled:
            self._proc.send_signal(signal.SIGCONT)
        self._stalled = False

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> RedisServer:
        require_service(f"redis-server ({REDIS_SERVER})", os.access(REDIS_SERVER, os.X_OK))
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def redis_server(root: Path) -> Iterator[RedisServer]:
    with RedisServer(root) as server:
        yield server
