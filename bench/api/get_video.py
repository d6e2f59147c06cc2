"""GET /v1/videos/{id} latency and throughput of the real `vodforge api` process over 100,000
product-shaped videos in PostgreSQL, with 200 concurrent keep-alive clients on loopback.

    .venv/bin/python -m bench.api.get_video [--videos N] [--clients N] [--rates R,R,..]
        [--warmup S] [--duration S] [--max-requests N] [--py-spy OUT]

Setup: a fresh database (vodforge_bench_api_<hex>, dropped at the end), migrated, seeded by
bench/api/seed.py (94% READY with packages and SUCCEEDED jobs, 5% waiting, 1% FAILED, over 10
tenants); then `vodforge api --host 127.0.0.1 --port P` as a subprocess with default settings.
Every client asks for random ids of one tenant (~10,000 videos). After a warm-up, phases of
`--duration` seconds each:

  paced at R   each client sends R requests/s (200 x R offered): the latency at a steady
               load, measured from when each request was due (queueing included)
  saturation   each client sends back to back: the most the server answers per second;
               latency there is concurrency / throughput (Little's law), not a target

Each phase also prints the CPU time the server and the load generator spent per request
(they share this machine's cores with PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.api.load import LoadGenerator, Results
from bench.api.seed import seed
from bench.engine.support import (
    migrate,
    percentile,
    print_header,
    start_process,
    stop_process,
    tail,
    throwaway_database,
    vodforge_bin,
    vodforge_env,
)


def main() -> None:
    args = parse_args()
    print_header(
        "GET /v1/videos/{id} on `vodforge api` (PostgreSQL)",
        {
            "videos": f"{args.videos:,} over {args.tenants} tenants",
            "clients": f"{args.clients} (one keep-alive connection each)",
            "paced rates": ", ".join(
                f"{rate:g}/s per client = {rate * args.clients:,.0f}/s offered"
                for rate in args.rates
            ),
            "phases": f"warm-up {args.warmup:g} s, then {args.duration:g} s each",
            "request budget": f"{args.max_requests:,} per phase",
        },
    )
    with throwaway_database("api") as url, tempfile.TemporaryDirectory() as scratch:
        migrate(url)
        api_key = "vf_" + secrets.token_urlsafe(32)
        seeded = seed(url, videos=args.videos, tenants=args.tenants, api_key=api_key)
        print(
            f"seeded {args.videos:,} videos in {seeded.seconds:.1f} s; "
            f"the tenant under test has {len(seeded.video_ids):,}"
        )
        port = free_port()
        log = Path(scratch) / "api.log"
        argv = [vodforge_bin(), "api", "--host", "127.0.0.1", "--port", str(port)]
        print("server:      " + " ".join(argv[1:]), flush=True)
        api = start_process(argv, vodforge_env(url, Path(scratch) / "data"), log)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(base, api, log)
            headers = {"Authorization": f"Bearer {api_key}"}
            asyncio.run(drive(args, base, headers, seeded.video_ids, api.pid))
        finally:
            stop_process(api)
        if api.returncode not in (0, -15):
            print(f"server exited {api.returncode}:\n{tail(log)}")


async def drive(
    args: argparse.Namespace, base: str, headers: dict[str, str], ids: list[str], pid: int
) -> None:
    def path_for(rng: random.Random) -> str:
        return f"/v1/videos/{rng.choice(ids)}"

    async with LoadGenerator(base, headers, args.clients) as load:
        await load.run(path_for, args.warmup, 0.0, args.max_requests)
        for rate in args.rates:
            cpu = server_cpu_s(pid)
            paced = await load.run(path_for, args.duration, 1 / rate, args.max_requests)
            report(f"paced {rate * args.clients:,.0f}/s", paced, server_cpu_s(pid) - cpu)
        spy = start_py_spy(args.py_spy, pid, args.duration)
        cpu = server_cpu_s(pid)
        saturated = await load.run(path_for, args.duration, 0.0, args.max_requests)
        report("saturation", saturated, server_cpu_s(pid) - cpu)
        if spy is not None:
            spy.wait(timeout=args.duration + 60)
            print(f"py-spy profile of the saturation phase (GIL holder only): {args.py_spy}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument(
        "--rates",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[0.5, 0.75, 1.0],
        help="paced requests/s per client, one phase each (default 0.5,0.75,1)",
    )
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--max-requests", type=int, default=500_000)
    parser.add_argument("--py-spy", metavar="OUT", help="profile the server while saturated")
    return parser.parse_args()


def report(phase: str, results: Results, server_cpu: float) -> None:
    lat = results.latencies_s
    count = max(len(lat), 1)
    rate = len(lat) / results.elapsed_s if results.elapsed_s else 0.0
    errors = f"errors {results.errors}"
    if results.errors:
        errors += f" {dict(results.statuses)}"
    print(
        f"{phase:<16} {len(lat):>6,} requests in {results.elapsed_s:4.1f} s = {rate:6.1f}/s  "
        f"p50 {percentile(lat, 50) * 1000:7.1f} ms  p99 {percentile(lat, 99) * 1000:7.1f} ms  "
        f"max {max(lat, default=0) * 1000:7.1f} ms  {errors}  cpu/request: server "
        f"{server_cpu / count * 1000:.2f} ms, load generator "
        f"{results.client_cpu_s / count * 1000:.2f} ms",
        flush=True,
    )


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vodforge api exited {proc.returncode}:\n{tail(log)}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"vodforge api was not ready within 30 s:\n{tail(log)}")


def start_py_spy(out: str | None, pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy (pip install py-spy) sampling the GIL holder, as collapsed stacks in `out`."""
    if out is None:
        return None
    spy = str(Path(sys.executable).with_name("py-spy"))
    argv = [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-o", out]
    argv += ["--format", "raw", "--gil", "--nonblocking", "-r", "200"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    main()
