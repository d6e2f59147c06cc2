"""Chunked encoding benchmark: does splitting a long video into chunk jobs cost CPU, size or
quality, and how does its time-to-READY scale with workers?

On one source built from real footage (bench/chunked/source.py), through the real system
(`vodforge submit`, K `vodforge worker` processes, one `vodforge scheduler`, a fresh
embedded data dir each run):

  (u)  unchunked (VODFORGE_CHUNK_SECONDS=0), 1 worker, VODFORGE_FFMPEG_THREADS=1;
  (c1) chunked, 1 worker, FFMPEG_THREADS=1;
  (c2) chunked, 2 workers, FFMPEG_THREADS=1.

Then: CPU c1/u, wall and speedups, package bytes chunked/unchunked (all files, and each
rendition's H.264 payload), PSNR/SSIM of every rendition against the source, and T(N) for
N workers simulated from c1's per-job times (bench/chunked/sim.py).

    .venv/bin/python -m bench.chunked.run            # 10 min source, 60 s chunks (~2 h, 2 cores)
    .venv/bin/python -m bench.chunked.run --quick    # 2 min source, 20 s chunks
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.chunked.fleet import JobRow, RunConfig, RunError, RunResult, busy_cpu_s, run_system
from bench.chunked.quality import PackageFacts, Quality, measure_quality, package_facts
from bench.chunked.sim import FamilyTimes, scaled_family, scaling_table, time_to_ready
from bench.chunked.source import FPS, build_source, recipe_text
from vodforge.media.ffmpeg import find_ffmpeg

CACHE = Path(__file__).resolve().parents[1] / "results" / "chunked"  # gitignored
MB = 1024 * 1024
SIM_WORKERS = (1, 2, 4, 8, 16)


def configs(chunk_s: float) -> list[RunConfig]:
    return [
        RunConfig("u", "(u)  unchunked, 1 worker, 1 thread", 0, 1),
        RunConfig("c1", f"(c1) chunked {chunk_s:g} s, 1 worker, 1 thread", chunk_s, 1),
        RunConfig("c2", f"(c2) chunked {chunk_s:g} s, 2 workers, 1 thread", chunk_s, 2),
    ]


# ----------------------------------------------------------------------------- the machine


def machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
    cpu = model[1].strip() if model else "?"
    ram = f"{int(mem[1]) / MB:.1f} GiB" if mem else "?"
    return [
        f"nproc {len(os.sched_getaffinity(0))}, {cpu}, RAM {ram}",
        f"kernel {platform.release()}, python {platform.python_version()}",
    ]


def wait_until_quiet(max_wait_s: float, threshold_cores: float = 0.3) -> tuple[float, float]:
    """Wait (up to max_wait_s) until the machine is idle for 5 s; (waited, last load)."""
    started = time.monotonic()
    while True:
        before = busy_cpu_s()
        time.sleep(5.0)
        load = (busy_cpu_s() - before) / 5.0
        waited = time.monotonic() - started
        if load < threshold_cores or waited >= max_wait_s:
            return waited, load


def ffmpeg_version(ffmpeg: str) -> str:
    result = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True)
    return result.stdout.splitlines()[0] if result.stdout else "?"


def command_line() -> str:
    return shlex.join([Path(sys.executable).name, "-m", "bench.chunked.run", *sys.argv[1:]])


def snapshot_code(work: Path) -> tuple[Path, list[str]]:
    """A copy of the checkout's src/ for every run to import (others edit it meanwhile),
    and what it is: HEAD plus any uncommitted changes under src/."""
    import vodforge

    src = Path(vodforge.__file__).resolve().parents[1]
    code = work / "code"
    shutil.copytree(
        src / "vodforge", code / "vodforge", ignore=shutil.ignore_patterns("__pycache__")
    )

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=src, capture_output=True, text=True)
        return result.stdout.rstrip()

    head = git("log", "-1", "--format=%h %ad %s", "--date=iso")[:110]
    dirty = git("status", "--short", "--", ".").splitlines()
    return code, [
        f"HEAD {head}",
        f"uncommitted under src/ (copied as they were): {dirty or 'none'}",
    ]


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


# ----------------------------------------------------------------------------- the family


def _runs(job: JobRow) -> list[tuple[float, float]]:
    """(RUNNING at, left RUNNING at) for each attempt of the job."""
    spans, started = [], None
    for event in job.events:
        if event["to"] == "RUNNING" and event["from"] != "RUNNING":
            started = event["at"]
        elif event["from"] == "RUNNING" and started is not None:
            spans.append((started, event["at"]))
            started = None
    return spans


def _succeeded_s(job: JobRow) -> float:
    """The successful attempt's RUNNING -> SUCCEEDED time."""
    end = next(e for e in reversed(job.events) if e["to"] == "SUCCEEDED")
    start = next(e for e in reversed(job.events) if e["to"] == "RUNNING" and e["at"] <= end["at"])
    return float(end["at"] - start["at"])


def family_times(result: RunResult) -> tuple[FamilyTimes, dict[str, float]]:
    """Per-job times of a chunked run, from its job events; and where its wall went."""
    parent = next(j for j in result.jobs if j.kind == "transcode")
    children = [j for j in result.jobs if j.parent_id == parent.id]
    audio = [j for j in children if j.kind == "audio"]
    chunks = sorted((j for j in children if j.kind == "chunk"), key=lambda j: j.spec["index"])
    stitch = next(j for j in children if j.kind == "stitch")
    parent_running = next(e["at"] for e in parent.events if e["to"] == "RUNNING")
    split_done = min(j.events[0]["at"] for j in children)
    parts = [*audio, *chunks]
    times = FamilyTimes(
        split_s=split_done - parent_running,
        parts_s=tuple(_succeeded_s(j) for j in parts),
        stitch_s=_succeeded_s(stitch),
    )
    submitted = parent.events[0]["at"]
    ready = next(e["at"] for e in parent.events if e["to"] == "SUCCEEDED")
    info = {
        "submitted_to_parent_running": parent_running - submitted,
        "events_wall": ready - submitted,
        "attempts": float(sum(len(_runs(j)) for j in [parent, *children])),
        "jobs": float(1 + len(children)),
        "chunks": float(len(chunks)),
        "audio_s": times.parts_s[0] if audio else 0.0,
        "chunk_s_mean": statistics.mean(times.parts_s[len(audio) :]),
        "chunk_s_min": min(times.parts_s[len(audio) :]),
        "chunk_s_max": max(times.parts_s[len(audio) :]),
    }
    return times, info


# ----------------------------------------------------------------------------- reporting


def print_runs(results: dict[str, RunResult]) -> None:
    print()
    print(
        f"{'run':<36} {'wall s':>8} {'CPU s':>8} {'CPU/wall':>8}  {'loadavg before':>15}  "
        f"{'loadavg after':>15}  {'other load':>10}"
    )
    for r in results.values():
        print(
            f"{r.config.label:<36} {r.wall_s:8.1f} {r.cpu_s:8.1f} {r.cpu_s / r.wall_s:8.2f}  "
            f"{_load(r.loadavg_before):>15}  {_load(r.loadavg_after):>15}  "
            f"{r.other_cores:6.2f} cores"
        )
    for r in results.values():
        parts = ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_by_process.items())
        print(f"  {r.config.key} CPU by process tree (s): {parts}")
    for r in results.values():
        attempts = sum(len(_runs(j)) for j in r.jobs)
        failed = [
            f"{j.kind} {j.spec.get('index', '')}: {e['reason']}".replace(" :", ":")
            for j in r.jobs
            for e in j.events
            if e["from"] == "RUNNING" and e["to"] in ("RETRY_WAIT", "FAILED", "DEAD")
        ]
        line = f"  {r.config.key} jobs {len(r.jobs)}, attempts {attempts}"
        print(line + (f"; failed attempts (their CPU is counted): {failed}" if failed else ""))
    print(
        "  other load = CPU the rest of the machine used during the run (/proc/stat busy "
        "time minus this run's processes), in cores; loadavg = /proc/loadavg 1/5/15 min"
    )


def print_ratios(results: dict[str, RunResult]) -> None:
    u, c1, c2 = results.get("u"), results.get("c1"), results.get("c2")
    print()
    if u and c1:
        ratio = c1.cpu_s / u.cpu_s
        verdict = "MET" if ratio <= 1.05 else "MISSED"
        print(
            f"CPU c1/u (chunked / unchunked, 1 worker) = {ratio:.3f}   target <= 1.05   {verdict}"
        )
    walls = ", ".join(f"{k} {r.wall_s:.1f} s" for k, r in results.items())
    print(f"wall: {walls}")
    if c1 and c2:
        print(f"speedup wall c1/c2 = {c1.wall_s / c2.wall_s:.2f}")
    if u and c2:
        print(f"speedup wall u/c2  = {u.wall_s / c2.wall_s:.2f}")


def print_sizes(facts: dict[str, PackageFacts]) -> None:
    u, c = facts.get("u"), facts.get("c1")
    if u is None or c is None:
        return
    print()
    print("package bytes, chunked (c1) / unchunked (u):")
    ratio = c.total_bytes / u.total_bytes
    print(
        f"  all files          {c.total_bytes / MB:9.2f} MiB / {u.total_bytes / MB:9.2f} MiB = "
        f"{ratio:.4f}  (chunked: one audio rendition; unchunked: AAC muxed into each rendition)"
    )
    video = c.video_bytes / u.video_bytes
    verdict = "MET" if abs(video - 1) <= 0.01 else "MISSED"
    print(
        f"  H.264, all rungs   {c.video_bytes / MB:9.2f} MiB / {u.video_bytes / MB:9.2f} MiB = "
        f"{video:.4f}  target within 1 %   {verdict}"
    )
    for rc in c.renditions:
        ru = u.rendition(rc.name)
        print(
            f"  {rc.name:<6} H.264     {rc.video_bytes / MB:9.2f} MiB / "
            f"{ru.video_bytes / MB:9.2f} MiB = {rc.video_bytes / ru.video_bytes:.4f}   "
            f"files {rc.file_bytes / MB:.2f} / {ru.file_bytes / MB:.2f} MiB = "
            f"{rc.file_bytes / ru.file_bytes:.4f}"
        )
    audio_u = sum(r.audio_bytes for r in u.renditions)
    print(
        f"  AAC payload        {c.audio_rendition_payload / MB:9.2f} MiB (1 rendition) / "
        f"{audio_u / MB:9.2f} MiB ({len(u.renditions)} copies muxed)"
    )


def print_quality(quality: dict[str, Quality], facts: dict[str, PackageFacts]) -> None:
    print()
    print("quality against the source scaled to each rendition (all frames):")
    print(
        f"  {'rung':<6} {'PSNR-Y u':>9} {'PSNR-Y c1':>9} {'diff dB':>8}   "
        f"{'PSNR u':>7} {'PSNR c1':>7} {'diff dB':>8}   {'SSIM u':>8} {'SSIM c1':>8} {'diff':>8}"
    )
    worst = 0.0
    for r in facts["u"].renditions:
        qu, qc = quality[f"u/{r.name}"], quality[f"c1/{r.name}"]
        worst = max(worst, abs(qc.psnr_avg - qu.psnr_avg), abs(qc.psnr_y - qu.psnr_y))
        print(
            f"  {r.name:<6} {qu.psnr_y:9.3f} {qc.psnr_y:9.3f} {qc.psnr_y - qu.psnr_y:+8.3f}   "
            f"{qu.psnr_avg:7.3f} {qc.psnr_avg:7.3f} {qc.psnr_avg - qu.psnr_avg:+8.3f}   "
            f"{qu.ssim_all:8.5f} {qc.ssim_all:8.5f} {qc.ssim_all - qu.ssim_all:+8.5f}"
        )
    verdict = "MET" if worst <= 0.1 else "MISSED"
    print(f"  largest PSNR difference {worst:.3f} dB   target within 0.1 dB   {verdict}")
    print("  (PSNR = ffmpeg's 'average' over Y, U and V; SSIM = its 'All')")


def print_simulation(
    results: dict[str, RunResult], source_s: float, chunk_s: float, target_s: float
) -> None:
    c1 = results.get("c1")
    if c1 is None:
        return
    times, info = family_times(c1)
    print()
    print(
        f"c1 family: {info['jobs']:.0f} jobs ({info['chunks']:.0f} chunks, audio, stitch, the "
        f"parent), {info['attempts']:.0f} attempts; split {times.split_s:.2f} s, audio "
        f"{info['audio_s']:.1f} s, chunks mean {info['chunk_s_mean']:.1f} s "
        f"[{info['chunk_s_min']:.1f}-{info['chunk_s_max']:.1f}], stitch {times.stitch_s:.2f} s"
    )
    serial = times.serial_s
    print(
        f"  split + parts + stitch = {serial:.1f} s; submit -> parent RUNNING "
        f"{info['submitted_to_parent_running']:.2f} s; submit -> READY (events) "
        f"{info['events_wall']:.1f} s: claim gaps and wake-ups "
        f"{info['events_wall'] - serial - info['submitted_to_parent_running']:.2f} s"
    )
    c2 = results.get("c2")
    if c2 is not None:
        _, info2 = family_times(c2)
        print(
            f"  c2 (2 workers sharing 2 cores): chunks mean {info2['chunk_s_mean']:.1f} s "
            f"(c1 {info['chunk_s_mean']:.1f} s); simulated T(2) from c1 "
            f"{time_to_ready(times, 2):.1f} s vs c2's measured split-to-READY "
            f"{info2['events_wall'] - info2['submitted_to_parent_running']:.1f} s"
        )
    print()
    print("time-to-READY on N workers, simulated from c1's per-job times (claim order: audio,")
    print("then chunks in order, each to the first free worker; the stitch after all parts):")
    print(f"  {'N':>3} {'T(N) s':>9} {'speedup':>8} {'efficiency':>10}")
    for row in scaling_table(times, SIM_WORKERS):
        print(f"  {row.workers:>3} {row.ready_s:9.1f} {row.speedup:8.2f} {row.efficiency:10.2f}")
    eight = scaling_table(times, [8])[0]
    verdict = "MET" if eight.efficiency >= 0.85 else "MISSED"
    print(f"  efficiency at N=8 = {eight.efficiency:.2f}   target >= 0.85   {verdict}")
    if target_s > source_s + 1:
        scaled = scaled_family(times, source_s, chunk_s, target_s, audio=info["audio_s"] > 0)
        print()
        print(
            f"EXTRAPOLATED (not measured) to a {target_s / 60:g} min source in {chunk_s:g} s "
            f"chunks: {len(scaled.parts_s) - 1} chunks at c1's mean cost per source second, "
            "audio scaled by duration, split and stitch as measured:"
        )
        print(f"  {'N':>3} {'T(N) s':>9} {'speedup':>8} {'efficiency':>10}")
        for row in scaling_table(scaled, SIM_WORKERS):
            print(
                f"  {row.workers:>3} {row.ready_s:9.1f} {row.speedup:8.2f} {row.efficiency:10.2f}"
            )


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="source length")
    parser.add_argument("--chunk-seconds", type=float, default=60.0)
    parser.add_argument(
        "--chunk-min-duration",
        type=float,
        default=None,
        help="VODFORGE_CHUNK_MIN_DURATION_S (default 300, or 30 for a source of 5 min or less)",
    )
    parser.add_argument("--quick", action="store_true", help="2 min source, 20 s chunks")
    parser.add_argument("--runs", default="u,c1,c2", help="which runs, in this order")
    parser.add_argument("--timeout", type=float, default=7200.0, help="per run, seconds")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each run, wait up to this many seconds for other load to stop (0: never)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the runs' data dirs")
    parser.add_argument(
        "--extrapolate",
        type=float,
        default=10.0,
        help="also simulate a source this many minutes long from c1's cost per second",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.chunk_seconds = 2.0, 20.0
    min_duration = args.chunk_min_duration
    if min_duration is None:
        min_duration = 300.0 if args.minutes * 60 > 300 else 30.0
    by_key = {c.key: c for c in configs(args.chunk_seconds)}
    chosen = [by_key[key] for key in args.runs.split(",")]

    # A kill of the bench stops its workers too (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    ffmpeg = find_ffmpeg()
    print("vodforge chunked encoding benchmark", flush=True)
    print(f"command: cd {Path.cwd()} && {command_line()}")
    for line in machine():
        print(f"machine: {line}")
    print(f"ffmpeg: {ffmpeg_version(ffmpeg)}")
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    source, built = build_source(ffmpeg, CACHE, args.minutes)
    how = f"built in {time.monotonic() - started:.0f} s" if built else "cached"
    print(f"source: {recipe_text(args.minutes)}")
    print(f"  {source} ({source.stat().st_size / MB:.1f} MiB, {how})")
    print(
        f"settings: VODFORGE_CHUNK_SECONDS={args.chunk_seconds:g} (0 for u), "
        f"VODFORGE_CHUNK_MIN_DURATION_S={min_duration:g}, VODFORGE_FFMPEG_THREADS=1; "
        "embedded SQLite + file storage, fresh data dir per run; runs in order "
        + ", ".join(c.key for c in chosen),
        flush=True,
    )

    work = Path(tempfile.mkdtemp(prefix="vodforge-chunked-"))
    code, described = snapshot_code(work)
    for line in described:
        print(f"vodforge code: {line}")
    print(f"  (every vodforge process imports the copy in {code})", flush=True)
    logs = CACHE / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    results: dict[str, RunResult] = {}
    try:
        for config in chosen:
            if args.quiet_wait > 0:
                waited, load = wait_until_quiet(args.quiet_wait)
                if waited > 5.5:
                    print(f"  (waited {waited:.0f} s for other load; now {load:.2f} cores)")
            result = run_system(
                config,
                source,
                work,
                logs,
                min_duration_s=min_duration,
                timeout_s=args.timeout,
                code=code,
            )
            results[config.key] = result
            print(
                f"{config.label:<36} wall {result.wall_s:7.1f} s  CPU {result.cpu_s:7.1f} s  "
                f"loadavg before {_load(result.loadavg_before)} after "
                f"{_load(result.loadavg_after)}  other load {result.other_cores:.2f} cores",
                flush=True,
            )
        print_runs(results)
        print_ratios(results)

        facts = {key: package_facts(ffmpeg, r.storage, r.package) for key, r in results.items()}
        expected = round(args.minutes * 60 * FPS)
        print()
        print(f"frames per rendition (ffmpeg's HLS demuxer, stream copy; source {expected}):")
        for key, f in facts.items():
            counts = ", ".join(f"{r.name} {r.frames}" for r in f.renditions)
            bad = any(r.frames != expected for r in f.renditions)
            print(f"  {key}: {counts}" + ("   MISMATCH" if bad else "   ok"))
        print_sizes(facts)
        if "u" in facts and "c1" in facts:
            playlists = {
                f"{k}/{r.name}": r.playlist for k in ("u", "c1") for r in facts[k].renditions
            }
            sizes = {
                f"{k}/{r.name}": (r.width, r.height)
                for k in ("u", "c1")
                for r in facts[k].renditions
            }
            q_started = time.monotonic()
            quality = measure_quality(ffmpeg, source, playlists, sizes)
            print_quality(quality, facts)
            print(f"  (quality pass {time.monotonic() - q_started:.0f} s, not part of any run)")
        print_simulation(results, args.minutes * 60, args.chunk_seconds, args.extrapolate * 60)
    finally:
        if args.keep:
            print(f"\ndata dirs kept under {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nlogs: {logs}; total bench time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
