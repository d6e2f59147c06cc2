"""Where does (a)'s time go? Companion to run.py: measures the pieces of the pipeline
around the one ffmpeg (probe, poster, Python start-up, ffmpeg start-up) and variations of
vodforge's own transcode argv (threads), on a generated source.

    .venv/bin/python -m bench.transcode.diagnose [--duration 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.transcode.run import (
    BenchError,
    Measure,
    check_package,
    machine,
    make_source,
    run_measured,
    wait_until_quiet,
)
from vodforge.domain.ladder import plan_ladder
from vodforge.domain.limits import InputLimits
from vodforge.media.commands import poster_argv, transcode_argv
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source


def _with_option(argv: list[str], before: str, *extra: str) -> list[str]:
    """Insert extra options just before the first occurrence of `before`."""
    at = argv.index(before)
    return [*argv[:at], *extra, *argv[at:]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--source", default="testsrc2")
    parser.add_argument("--quiet-wait", type=float, default=120.0)
    args = parser.parse_args(argv)
    ffmpeg = find_ffmpeg()
    for line in machine():
        print(f"machine: {line}")
    with tempfile.TemporaryDirectory(prefix="vodforge-diag-") as tmp:
        root = Path(tmp)
        source = root / "source.mp4"
        print(f"source: {make_source(ffmpeg, source, args.duration, args.source)}", flush=True)
        probe = probe_source(source, InputLimits(), ffmpeg)
        ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
        logs = root / "logs"
        logs.mkdir()

        def vodforge_argv(out: Path, threads: int = 0) -> list[str]:
            return transcode_argv(ffmpeg, source, probe, ladder, out, threads=threads)

        transcodes: dict[str, Callable[[Path], list[str]]] = {
            "transcode_argv as shipped (threads auto)": vodforge_argv,
            "+ -threads 2 (each encoder 2 threads)": lambda out: vodforge_argv(out, 2),
            "+ -threads 1 (each encoder 1 thread)": lambda out: vodforge_argv(out, 1),
            "+ -filter_complex_threads 1": lambda out: _with_option(
                vodforge_argv(out), "-filter_complex", "-filter_complex_threads", "1"
            ),
        }

        def probe_once(_: Path) -> Measure:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            probe_source(source, InputLimits(), ffmpeg)
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            return Measure(wall, cpu)

        def command(build: Callable[[Path], list[str]], tag: str) -> Callable[[Path], Measure]:
            return lambda out: run_measured(build(out), logs, tag)[0]

        pieces: dict[str, Callable[[Path], Measure]] = {
            "probe_source (3 ffmpeg runs)": probe_once,
            "poster_argv (1 ffmpeg run)": command(
                lambda out: poster_argv(ffmpeg, source, probe, ladder[0], out), "poster"
            ),
            "ffmpeg -version (process start-up)": command(
                lambda _: [ffmpeg, "-hide_banner", "-version"], "version"
            ),
            "python: import vodforge.cli.main": command(
                lambda _: [sys.executable, "-c", "import vodforge.cli.main"], "import"
            ),
            "python: vodforge --version": command(
                lambda _: [sys.executable, "-m", "vodforge", "--version"], "pyversion"
            ),
        }
        results: dict[str, list[Measure]] = {}
        for round_no in range(args.rounds):
            for label, build in transcodes.items():
                out = root / f"out-{round_no}-{len(results)}"
                if args.quiet_wait:
                    wait_until_quiet(args.quiet_wait)
                measure = run_measured(build(out), logs, f"t{round_no}")[0]
                check_package(ffmpeg, out, probe.duration_s)
                results.setdefault(label, []).append(measure)
                print(
                    f"round {round_no + 1} {label:<42} wall {measure.wall_s:6.2f} s  "
                    f"CPU {measure.cpu_s:6.2f} s  other load {measure.foreign_cores:.2f}",
                    flush=True,
                )
            for label, piece in pieces.items():
                out = root / f"piece-{round_no}"
                out.mkdir(exist_ok=True)
                for _ in range(3):
                    results.setdefault(label, []).append(piece(out))
        print()
        print(f"{'medians':<44} {'wall s':>8} {'CPU s':>8} {'other':>6}  runs")
        for label, runs in results.items():
            wall = statistics.median(m.wall_s for m in runs)
            cpu = statistics.median(m.cpu_s for m in runs)
            other = statistics.median(m.foreign_cores for m in runs)
            print(f"{label:<44} {wall:8.2f} {cpu:8.2f} {other:6.2f}  {len(runs)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"diagnose failed: {exc}", file=sys.stderr)
        sys.exit(1)
