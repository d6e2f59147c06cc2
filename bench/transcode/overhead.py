"""What does the pipeline around ffmpeg cost? `vodforge transcode SRC --out DIR` against one
hand-written decode-once ffmpeg command with the same ladder, on generated 1080p sources.

  (a) `vodforge transcode SRC --out DIR` as a subprocess in a fresh data directory (embedded
      SQLite, local storage): run.py's variant (a), through bench/transcode/inproc.py;
  (c) one hand-written decode-once ffmpeg command (split + var_stream_map): run.py's (c).

For each source (20 s and 60 s by default) the two alternate within one run, a then c, then
c then a, for R rounds; each run's package is checked as run.py checks it. Reported: per-run
wall and CPU, medians, wall(a)/wall(c) against its target (<= 1.05 at 20 s, <= 1.02 at
60 s), the ratio within each a/c pair, and where (a)'s time goes outside ffmpeg.

    .venv/bin/python -m bench.transcode.overhead            # 20 s and 60 s, 3 rounds each
    .venv/bin/python -m bench.transcode.overhead --quick    # 20 s, 1 round (~1 min)
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.transcode.run import (
    INPROC,
    BenchError,
    Context,
    Measure,
    argv_c,
    check_ladder_matches_vodforge,
    check_package,
    ffmpeg_version,
    make_source,
    variant_a,
    variant_c,
    wait_until_quiet,
)
from vodforge.domain.limits import InputLimits
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source

TARGETS = {20: 1.05, 60: 1.02}  # source seconds -> the most wall(a)/wall(c) may be
GIB = 1024**3
# (a)'s stages, from vodforge's JSON log and inproc.py's timestamps (see run._stage_times).
STAGES = {
    "st_python_start_imports": "Python start + imports",
    "st_setup_submit_claim": "data dir, submit (source copy), claim",
    "st_probe": "fetch source + probe",
    "st_ffmpeg_and_validate": "ffmpeg transcode (+ images) + validate",
    "st_validate_to_upload": "validate stage until upload (was: poster)",
    "st_upload_publish": "upload + publish",
    "st_copy_out": "copy the package to --out",
    "st_exit": "interpreter exit",
}


@dataclass
class SourceRuns:
    seconds: int
    description: str
    a: list[Measure] = field(default_factory=list)
    c: list[Measure] = field(default_factory=list)
    pairs: list[float] = field(default_factory=list)  # wall(a)/wall(c) within each round


def machine_lines() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
    ram = f"{int(mem[1]) * 1024 / GIB:.1f} GiB RAM" if mem else "RAM ?"
    return [
        f"cpu: {model[1].strip() if model else '?'}",
        f"cores: {os.cpu_count()} (usable by this process: {len(os.sched_getaffinity(0))}); {ram}",
    ]


def command_line() -> str:
    spec = globals().get("__spec__")
    if spec is not None and spec.name:
        return shlex.join([sys.executable, "-m", spec.name, *sys.argv[1:]])
    return shlex.join([sys.executable, *sys.argv])


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _med(values: Sequence[float]) -> float:
    return statistics.median(values)


def _spread(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{_med(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def run_source(ffmpeg: str, root: Path, seconds: int, rounds: int, quiet_wait: float) -> SourceRuns:
    source = root / f"source-{seconds}s.mp4"
    started = time.monotonic()
    description = make_source(ffmpeg, source, seconds, "testsrc2")
    print(f"source {seconds} s: {description} (made in {time.monotonic() - started:.0f} s)")
    probe = probe_source(source, InputLimits(), ffmpeg)
    ctx = Context(ffmpeg, source, probe.duration_s, probe, root)
    check_ladder_matches_vodforge(ctx)
    print(f"  (c) command: {shlex.join(argv_c(ctx, root / 'OUT'))}")
    runs = SourceRuns(seconds, description)
    logs = root / f"logs-{seconds}s"
    logs.mkdir()
    for round_no in range(rounds):
        order = "ac" if round_no % 2 == 0 else "ca"
        walls: dict[str, float] = {}
        for key in order:
            if quiet_wait > 0:
                waited, load = wait_until_quiet(quiet_wait)
                if waited > 2.5:
                    print(f"  (waited {waited:.0f} s for other load; now {load:.2f} cores)")
            tag = f"{seconds}s-r{round_no}-{key}"
            out = root / f"{tag}-out"
            measure = (variant_a if key == "a" else variant_c)(ctx, out, logs, tag)
            check_package(ffmpeg, out, probe.duration_s)
            shutil.rmtree(out)
            (runs.a if key == "a" else runs.c).append(measure)
            walls[key] = measure.wall_s
            print(
                f"  {seconds} s round {round_no + 1} ({key}) wall {measure.wall_s:6.2f} s  "
                f"CPU {measure.cpu_s:6.2f} s  other load {measure.foreign_cores:.2f} cores",
                flush=True,
            )
        runs.pairs.append(walls["a"] / walls["c"])
    source.unlink()
    return runs


def report(results: list[SourceRuns]) -> list[str]:
    lines = ["", "summary (medians; [min-max] over rounds)"]
    header = (
        f"{'source':>6}  {'(a) wall s':>22}  {'(c) wall s':>22}  {'wall(a)/wall(c)':>15}  "
        f"{'target':>7}  {'verdict':>7}  {'CPU(a)/CPU(c)':>13}  paired wall(a)/wall(c)"
    )
    lines += [header, "-" * len(header)]
    for runs in results:
        wall_a, wall_c = [m.wall_s for m in runs.a], [m.wall_s for m in runs.c]
        ratio = _med(wall_a) / _med(wall_c)
        cpu = _med([m.cpu_s for m in runs.a]) / _med([m.cpu_s for m in runs.c])
        target = TARGETS.get(runs.seconds)
        verdict = "-" if target is None else ("MET" if ratio <= target else "MISSED")
        pairs = ", ".join(f"{p:.3f}" for p in runs.pairs)
        lines.append(
            f"{runs.seconds:>4} s  {_spread(wall_a):>22}  {_spread(wall_c):>22}  "
            f"{ratio:>15.3f}  {'<= ' + format(target, '.2f') if target else '-':>7}  "
            f"{verdict:>7}  {cpu:>13.3f}  {pairs}"
        )
    noisy = sum(m.foreign_cores > 0.2 for runs in results for m in [*runs.a, *runs.c])
    lines.append(
        "other load (CPU the rest of the machine used during a run, from /proc/stat): "
        f"runs above 0.2 cores: {noisy} of {sum(len(r.a) + len(r.c) for r in results)}"
    )
    lines += ["", "(a) outside ffmpeg, median seconds per stage (vodforge's JSON log):"]
    lines.append(f"{'stage':<42}" + "".join(f"{f'{r.seconds} s':>10}" for r in results))
    for key, label in STAGES.items():
        cells = []
        for runs in results:
            values = [m.extra[key] for m in runs.a if key in m.extra]
            cells.append(f"{_med(values):>10.2f}" if values else f"{'?':>10}")
        lines.append(f"{label:<42}" + "".join(cells))
    outside = [[_outside_ffmpeg(m) for m in r.a] for r in results]
    lines.append(
        f"{'(a) outside ffmpeg, total':<42}"
        + "".join(f"{_med(v):>10.2f}" if v and None not in v else f"{'?':>10}" for v in outside)
    )
    lines.append(
        f"{'  as a share of wall(c)':<42}"
        + "".join(
            f"{_med(v) / _med([m.wall_s for m in r.c]):>10.1%}" if v and None not in v else ""
            for v, r in zip(outside, results, strict=True)
        )
    )
    lines.append(
        f"{'(a) wall - (c) wall':<42}"
        + "".join(
            f"{_med([m.wall_s for m in r.a]) - _med([m.wall_s for m in r.c]):>+10.2f}"
            for r in results
        )
    )
    lines.append(
        f"{'Python worker CPU (RUSAGE_SELF)':<42}"
        + "".join(f"{_med([m.extra['py_cpu_s'] for m in r.a]):>10.2f}" for r in results)
    )
    return lines


def _outside_ffmpeg(measure: Measure) -> float | None:
    """(a)'s wall time outside its transcode ffmpeg: less at the mercy of a busy machine
    than wall(a) - wall(c), which carries each encode's own noise."""
    stages = [measure.extra.get(key) for key in STAGES if key != "st_ffmpeg_and_validate"]
    return None if None in stages else sum(s for s in stages if s is not None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="a/c pairs per source")
    parser.add_argument(
        "--durations", default="20,60", help="source seconds, comma-separated (default 20,60)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round on the 20 s source")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each run, wait up to this many seconds for other load to stop (0: never)",
    )
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    durations = [20] if args.quick else [int(d) for d in args.durations.split(",")]

    ffmpeg = find_ffmpeg()
    print("vodforge transcode: fixed overhead over one decode-once ffmpeg", flush=True)
    print(f"command: cd {Path.cwd()} && {command_line()}")
    for line in machine_lines():
        print(f"machine: {line}")
    print(f"machine: load average before: {load_average()}")
    print(f"ffmpeg: {ffmpeg_version(ffmpeg)} ({ffmpeg})")
    print(
        f"(a): {shlex.join([sys.executable, str(INPROC), 'transcode', 'SRC', '--out', 'DIR'])}"
        " in a fresh VODFORGE_DATA_DIR (SQLite, local storage)"
    )
    print("(c): run.py's hand-written decode-once ffmpeg command (printed per source)")
    print(f"rounds per source: {rounds}, (a) and (c) alternating (a c, c a, ...)", flush=True)
    results: list[SourceRuns] = []
    with tempfile.TemporaryDirectory(prefix="vodforge-overhead-") as tmp:
        for seconds in durations:
            results.append(run_source(ffmpeg, Path(tmp), seconds, rounds, args.quiet_wait))
    for line in report(results):
        print(line)
    print(f"\nmachine: load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
