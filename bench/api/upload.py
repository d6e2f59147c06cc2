"""Upload benchmark: a multipart upload of a large file through a real `vodforge api` process
to local storage, against a plain `cp` of the same bytes on the same disk.

For R alternating rounds, on one generated file of --size-gib (random bytes, so nothing on the
way can compress it):

  (a) `curl -F file=@SRC` to POST /v1/videos of a `vodforge api` subprocess (SQLite, local
      storage, its data dir in the same directory as SRC): wall time until the 201, the API
      process's peak RSS during that upload (VmHWM, reset before each round through
      /proc/PID/clear_refs) and its CPU time (utime+stime from /proc/PID/stat);
  (b) `cp SRC DST` in the same directory: wall time.

The stored source is checked to have the file's size after each upload, then deleted, as is
each copy, so every round starts from the same disk state. Neither side fsyncs. The source
file is read through the page cache by both (it was just written and stays cached).

    .venv/bin/python -m bench.api.upload                 # 2 GiB, 3 rounds
    .venv/bin/python -m bench.api.upload --quick         # 256 MiB, 1 round
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from vodforge.bootstrap import open_components
from vodforge.settings import Settings

MIB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Round:
    upload_s: float
    peak_rss: int
    api_cpu_s: float
    copy_s: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (a disk)")
    parser.add_argument("--quick", action="store_true", help="256 MiB, one round")
    args = parser.parse_args()
    if args.quick:
        args.size_gib, args.rounds = 0.25, 1
    size = int(args.size_gib * 1024 * MIB)
    if shutil.which("curl") is None:
        print("curl is required", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="vodforge-bench-upload-", dir=args.dir))
    try:
        print_header(work, size, args.rounds)
        source = work / "source.bin"
        write_random(source, size)
        rounds = run_rounds(work, source, size, args.rounds)
        print_results(rounds, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run_rounds(work: Path, source: Path, size: int, count: int) -> list[Round]:
    env = api_env(work / "data")
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("VODFORGE_")})
    components = open_components(settings)
    try:
        _, key = components.tenants.create("bench")
    finally:
        components.close()
    rounds = []
    with api_process(env, work / "api.log") as (base, pid):
        idle = peak_rss(pid)
        print(f"API idle peak RSS: {idle / MIB:.1f} MiB (pid {pid})\n", flush=True)
        for number in range(1, count + 1):
            reset_peak_rss(pid)
            cpu_before = cpu_seconds(pid)
            upload_s, video_id = upload(base, key, source)
            stored = work / "data" / "storage" / "videos" / video_id / "source.bin"
            if stored.stat().st_size != size:
                raise SystemExit(f"stored {stored.stat().st_size} bytes, sent {size}")
            done = Round(upload_s, peak_rss(pid), cpu_seconds(pid) - cpu_before, 0.0)
            stored.unlink()
            copy_s = copy(source, work / "copy.bin")
            rounds.append(Round(done.upload_s, done.peak_rss, done.api_cpu_s, copy_s))
            print(
                f"round {number}: upload {upload_s:6.2f} s ({size / MIB / upload_s:6.1f} MiB/s),"
                f" API peak RSS {done.peak_rss / MIB:5.1f} MiB, API CPU {done.api_cpu_s:5.2f} s"
                f" | cp {copy_s:5.2f} s ({size / MIB / copy_s:6.1f} MiB/s)"
                f" | load {load()}",
                flush=True,
            )
    return rounds


def upload(base: str, key: str, source: Path) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail-with-body",
            "-H", f"Authorization: Bearer {key}",
            "-F", f"file=@{source};type=application/octet-stream",
            "-F", "title=bench upload",
            f"{base}/v1/videos",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"upload failed: {result.stdout} {result.stderr}")
    return elapsed, str(json.loads(result.stdout)["id"])


def copy(source: Path, target: Path) -> float:
    started = time.monotonic()
    subprocess.run(["cp", str(source), str(target)], check=True)
    elapsed = time.monotonic() - started
    target.unlink()
    return elapsed


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 16 * MIB))
            out.write(block)
            left -= len(block)


# -- the API process -------------------------------------------------------------------------


def api_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODFORGE_")}
    env.update(
        VODFORGE_DATA_DIR=str(data_dir),
        VODFORGE_INTERNAL_TOKEN="bench-internal-token",
        VODFORGE_MAX_FILE_BYTES=str(64 * 1024 * MIB),
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


@contextlib.contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vodforge", "api", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the API did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield base, proc.pid
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no VmHWM for pid {pid}")


def reset_peak_rss(pid: int) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- report ----------------------------------------------------------------------------------


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def print_header(work: Path, size: int, rounds: int) -> None:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor() or "?",
    )
    mem = next(
        int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal")
    )  # fmt: skip
    device = subprocess.run(
        ["df", "--output=source,fstype", str(work)], capture_output=True, text=True, check=False
    ).stdout.split()[-2:]
    curl = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=False)
    command = " ".join([".venv/bin/python -m bench.api.upload", *map(shlex.quote, sys.argv[1:])])
    print("== multipart upload through `vodforge api` vs cp, same bytes, same disk ==")
    print(f"command:  {command}")
    print(f"machine:  {len(os.sched_getaffinity(0))} cores ({model}), {mem / 1024**2:.1f} GiB RAM,")
    print(f"          {platform.system()} {platform.release()}, Python {platform.python_version()}")
    print(f"client:   {curl.stdout.splitlines()[0] if curl.stdout else 'curl ?'}")
    print(f"disk:     {work} on {' '.join(device)}")
    print(f"input:    {size / MIB:.0f} MiB of random bytes, {rounds} alternating round(s)")
    print(f"load:     {load()} at start (1/5/15 min; other processes share this machine)\n")


def print_results(rounds: list[Round], size: int) -> None:
    upload = statistics.median(r.upload_s for r in rounds)
    copy = statistics.median(r.copy_s for r in rounds)
    peak = max(r.peak_rss for r in rounds)
    cpu = statistics.median(r.api_cpu_s for r in rounds)
    print(f"\nmedian of {len(rounds)} round(s):")
    print(f"upload {size / MIB / upload:.1f} MiB/s, cp {size / MIB / copy:.1f} MiB/s")
    print(f"upload / cp throughput: {copy / upload:.2f}")
    print(f"API peak RSS (max over rounds): {peak / MIB:.1f} MiB (target < 150 MiB)")
    print(f"API CPU per GiB: {cpu / (size / 1024 / MIB):.2f} s")
    print(f"load at end: {load()}")


if __name__ == "__main__":
    raise SystemExit(main())
