"""Transcode benchmark: vodforge's decode-once pipeline against the peers' way.

On one generated 1080p30 source, for R alternating rounds:

  (a) `vodforge transcode SRC --out DIR`: the whole pipeline as a real subprocess (fresh
      VODFORGE_DATA_DIR each time), through bench/transcode/inproc.py, which runs the same
      `vodforge.cli.main.main` the console script runs and reports the Python worker's own
      peak RSS (RUSAGE_SELF: ffmpeg children are separate processes and excluded);
  (b) the same ladder as one ffmpeg process per rendition, run one after another, each
      decoding the source again (the MediaCMS / PeerTube way);
  (c) one hand-written decode-once ffmpeg command (split + var_stream_map), written out
      literally below as an independent reference, not built by vodforge;
  (d) diagnostic: vodforge's own `transcode_argv` run bare (no Python pipeline around it),
      plus a decode-only pass of the source, to explain where (a)'s time goes.

CPU is user+sys of each process tree (os.wait4 of the child, which includes everything it
reaped), wall is monotonic time around the child; runs never overlap. Every variant's
package is checked afterwards (master.m3u8 lists every rendition, each playlist is complete
and readable by ffmpeg with the expected size, frame rate, frame count and AAC stereo audio).

    .venv/bin/python -m bench.transcode.run            # 3 rounds, 60 s source
    .venv/bin/python -m bench.transcode.run --quick    # 1 round, 20 s source
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vodforge.domain.ladder import plan_ladder
from vodforge.domain.limits import InputLimits
from vodforge.media.commands import transcode_argv
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.probe import probe_source
from vodforge.media.probe_header import ProbeResult

INPROC = Path(__file__).with_name("inproc.py")
MB = 1024 * 1024

# The source every variant encodes.
WIDTH, HEIGHT, FPS = 1920, 1080, 30
SEGMENT_S, GOP_S = 4, 2
GOP = FPS * GOP_S


@dataclass(frozen=True)
class Rung:
    name: str
    width: int
    height: int
    maxrate_k: int
    crf: int = 21

    @property
    def bufsize_k(self) -> int:
        return 2 * self.maxrate_k


# The ladder for a 1080p30 source with audio, written out; checked against plan_ladder.
LADDER = (
    Rung("1080p", 1920, 1080, 5000),
    Rung("720p", 1280, 720, 2800),
    Rung("480p", 854, 480, 1400),
    Rung("360p", 640, 360, 800),
)

SOURCES = {
    "testsrc2": (
        "testsrc2 1920x1080@30 (synthetic, easy to encode) + 440 Hz sine, "
        "libx264 preset fast 8 Mb/s (maxrate 10M), AAC 192k stereo, MP4",
        "testsrc2=s=1920x1080:r=30:d={d}",
        "8M",
        "10M",
    ),
    "noisy": (
        "testsrc2 1920x1080@30 + noise=alls=16:allf=t+u (temporal grain, closer to camera "
        "footage) + 440 Hz sine, libx264 preset fast 16 Mb/s (maxrate 20M), AAC 192k, MP4",
        "testsrc2=s=1920x1080:r=30:d={d},noise=alls=16:allf=t+u",
        "16M",
        "20M",
    ),
}


# ----------------------------------------------------------------------------- measuring


@dataclass
class Measure:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    tree_maxrss_kb: int = 0
    # CPU the rest of the machine used meanwhile (busy time in /proc/stat, steal included,
    # minus our own): the machine is shared, so a noisy neighbour shows up here.
    foreign_cpu_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def add(self, other: Measure) -> None:
        self.wall_s += other.wall_s
        self.cpu_s += other.cpu_s
        self.foreign_cpu_s += other.foreign_cpu_s
        self.tree_maxrss_kb = max(self.tree_maxrss_kb, other.tree_maxrss_kb)

    @property
    def foreign_cores(self) -> float:
        return self.foreign_cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def busy_cpu_s() -> float:
    """Machine-wide busy CPU seconds so far (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_wait_s: float, threshold_cores: float = 0.3) -> tuple[float, float]:
    """Wait (up to max_wait_s) until the machine is idle for 2 s; (waited, last load)."""
    started = time.monotonic()
    while True:
        before = busy_cpu_s()
        time.sleep(2.0)
        load = (busy_cpu_s() - before) / 2.0
        waited = time.monotonic() - started
        if load < threshold_cores or waited >= max_wait_s:
            return waited, load


class BenchError(RuntimeError):
    pass


def _sample_hwm(pid: int, done: threading.Event, peak: list[int]) -> None:
    """Poll VmHWM (peak RSS) of one process, not its children, until it exits."""
    status = Path(f"/proc/{pid}/status")
    while not done.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass
        done.wait(0.05)


def run_measured(
    argv: Sequence[str], log_dir: Path, tag: str, *, env: dict[str, str] | None = None
) -> tuple[Measure, int]:
    """Run argv to completion; wall, CPU and peak RSS of its whole process tree, and the
    sampled VmHWM of the process itself."""
    out_path, err_path = log_dir / f"{tag}.out", log_dir / f"{tag}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        busy_before = busy_cpu_s()
        started = time.monotonic()
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
        done, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_sample_hwm, args=(proc.pid, done, peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        busy = busy_cpu_s() - busy_before
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err_path.read_text(errors="replace").splitlines()[-15:]
        raise BenchError(f"{tag} exited {proc.returncode}:\n  " + "\n  ".join(tail))
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(wall, cpu, usage.ru_maxrss, max(0.0, busy - cpu)), peak[0]


# ----------------------------------------------------------------------------- variants


@dataclass
class Context:
    ffmpeg: str
    source: Path
    duration_s: float
    probe: ProbeResult
    work: Path  # per-run directories are made and removed under here


def variant_a(ctx: Context, out: Path, logs: Path, tag: str) -> Measure:
    """The product: `vodforge transcode SRC --out DIR` in a fresh embedded data dir."""
    data_dir = ctx.work / f"{tag}-data"
    rusage_file = logs / f"{tag}.rusage.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODFORGE_")}
    env |= {"VODFORGE_DATA_DIR": str(data_dir), "VODFORGE_BENCH_RUSAGE": str(rusage_file)}
    argv = [sys.executable, str(INPROC), "transcode", str(ctx.source), "--out", str(out)]
    spawned = time.time()
    measure, hwm_kb = run_measured(argv, logs, tag, env=env)
    reaped = time.time()
    shutil.rmtree(data_dir, ignore_errors=True)
    usage = json.loads(rusage_file.read_text())
    measure.extra |= {
        "py_maxrss_kb": usage["self_maxrss_kb"],
        "py_hwm_kb": hwm_kb,
        "py_cpu_s": usage["self_cpu_s"],
        "ffmpeg_cpu_s": usage["children_cpu_s"],
    }
    measure.extra |= _stage_times(logs / f"{tag}.err", spawned, reaped, usage)
    return measure


def _stage_times(
    err_log: Path, spawned: float, reaped: float, usage: dict[str, float]
) -> dict[str, float]:
    """Stage boundaries from vodforge's JSON log (first event of each stage)."""
    first: dict[str, float] = {}
    for line in err_log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        key = event.get("stage") if event.get("event") == "TRANSCODE_PROGRESS" else None
        key = key or (event.get("event") if event.get("event") == "JOB_COMPLETED" else None)
        if isinstance(key, str) and key not in first:
            first[key] = float(event["ts"])
    marks = [
        ("st_python_start_imports", spawned),
        ("st_setup_submit_claim", usage["imported"]),
        ("st_probe", first.get("probe")),
        ("st_ffmpeg_and_validate", first.get("transcode")),
        ("st_validate_to_upload", first.get("validate")),
        ("st_upload_publish", first.get("upload")),
        ("st_copy_out", first.get("JOB_COMPLETED")),
        ("st_exit", usage["finished"]),
        ("end", reaped),
    ]
    if any(t is None for _, t in marks):
        return {}
    return {
        name: float(end) - float(start)  # type: ignore[arg-type]
        for (name, start), (_, end) in itertools.pairwise(marks)
    }


def _argv_b(ctx: Context, rung: Rung, out: Path) -> list[str]:
    """One rendition, one process: decode the source, scale, encode, package."""
    directory = out / rung.name
    # fmt: off
    return [
        ctx.ffmpeg, "-nostdin", "-hide_banner", "-y",
        "-i", str(ctx.source),
        "-map", "0:v:0", "-map", "0:a:0",
        "-vf", f"scale={rung.width}:{rung.height},setsar=1,format=yuv420p",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-crf", str(rung.crf), "-maxrate", f"{rung.maxrate_k}k", "-bufsize", f"{rung.bufsize_k}k",
        "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
        "-force_key_frames", f"expr:gte(t,n_forced*{GOP_S})",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
        "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments",
        "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", str(directory / "seg_%05d.m4s"),
        str(directory / "index.m3u8"),
    ]
    # fmt: on


def variant_b(ctx: Context, out: Path, logs: Path, tag: str) -> Measure:
    """The peers' way: a process per rendition, sequentially, then a master playlist."""
    total = Measure()
    for rung in LADDER:
        (out / rung.name).mkdir(parents=True, exist_ok=True)
        measure, _ = run_measured(_argv_b(ctx, rung, out), logs, f"{tag}-{rung.name}")
        total.add(measure)
        total.extra[f"rung_{rung.name}_wall_s"] = measure.wall_s
        total.extra[f"rung_{rung.name}_cpu_s"] = measure.cpu_s
    started = time.monotonic()
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rung in LADDER:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={(rung.maxrate_k + 128) * 1000},"
            f"RESOLUTION={rung.width}x{rung.height},FRAME-RATE={FPS:.3f}"
        )
        lines.append(f"{rung.name}/index.m3u8")
    (out / "master.m3u8").write_text("\n".join(lines) + "\n")
    total.wall_s += time.monotonic() - started
    return total


def argv_c(ctx: Context, out: Path) -> list[str]:
    """Written by hand, as one would type it: decode once, split four ways."""
    # fmt: off
    return [
        ctx.ffmpeg, "-nostdin", "-hide_banner", "-y",
        "-i", str(ctx.source),
        "-filter_complex",
        "[0:v:0]split=4[s0][s1][s2][s3];"
        "[s0]scale=1920:1080,setsar=1,format=yuv420p[v0];"
        "[s1]scale=1280:720,setsar=1,format=yuv420p[v1];"
        "[s2]scale=854:480,setsar=1,format=yuv420p[v2];"
        "[s3]scale=640:360,setsar=1,format=yuv420p[v3]",
        "-map", "[v0]", "-map", "0:a:0",
        "-map", "[v1]", "-map", "0:a:0",
        "-map", "[v2]", "-map", "0:a:0",
        "-map", "[v3]", "-map", "0:a:0",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-crf", "21",
        "-maxrate:v:0", "5000k", "-bufsize:v:0", "10000k",
        "-maxrate:v:1", "2800k", "-bufsize:v:1", "5600k",
        "-maxrate:v:2", "1400k", "-bufsize:v:2", "2800k",
        "-maxrate:v:3", "800k", "-bufsize:v:3", "1600k",
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
        "-force_key_frames", "expr:gte(t,n_forced*2)",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
        "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments",
        "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", f"{out}/%v/seg_%05d.m4s",
        "-master_pl_name", "master.m3u8",
        "-var_stream_map",
        "v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:480p v:3,a:3,name:360p",
        f"{out}/%v/index.m3u8",
    ]
    # fmt: on


def variant_c(ctx: Context, out: Path, logs: Path, tag: str) -> Measure:
    return run_measured(argv_c(ctx, out), logs, tag)[0]


def _vodforge_ladder(ctx: Context) -> tuple:
    probe = ctx.probe
    return plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)


def variant_d(ctx: Context, out: Path, logs: Path, tag: str) -> Measure:
    """Diagnostic: vodforge's transcode_argv alone, run bare (no probe, poster, Python)."""
    argv = transcode_argv(ctx.ffmpeg, ctx.source, ctx.probe, _vodforge_ladder(ctx), out)
    return run_measured(argv, logs, tag)[0]


def decode_only(ctx: Context, logs: Path, tag: str) -> Measure:
    """Diagnostic: what one extra decode of the source costs (what (b) pays 3 more times)."""
    argv = [ctx.ffmpeg, "-nostdin", "-hide_banner", "-i", str(ctx.source)]
    argv += ["-map", "0:v:0", "-f", "null", "-"]
    return run_measured(argv, logs, tag)[0]


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    run: Callable[[Context, Path, Path, str], Measure]
    diagnostic: bool = False


VARIANTS = (
    Variant("a", "(a) vodforge transcode (whole pipeline)", variant_a),
    Variant("b", "(b) 1 ffmpeg per rendition, sequential", variant_b),
    Variant("c", "(c) hand-written decode-once ffmpeg", variant_c),
    Variant("d", "(d) diag: vodforge transcode_argv bare", variant_d, diagnostic=True),
)


# ----------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class PackageCheck:
    bytes_total: int
    segments: int
    segment_durations: tuple[tuple[str, ...], ...]  # per rendition, EXTINF values


def _stream_facts(ffmpeg: str, playlist: Path) -> tuple[str, str, int]:
    """Read a media playlist with ffmpeg's HLS demuxer (copy, no decode)."""
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-stats", "-i", str(playlist)]
    argv += ["-map", "0", "-c", "copy", "-f", "null", "-"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"ffmpeg cannot read {playlist}: {result.stderr[-400:]}")
    head = result.stderr.split("Stream mapping:")[0]
    video = next((ln for ln in head.splitlines() if "Video:" in ln), "")
    audio = next((ln for ln in head.splitlines() if "Audio:" in ln), "")
    frames = re.findall(r"frame=\s*(\d+)", result.stderr)
    return video, audio, int(frames[-1]) if frames else -1


def check_package(ffmpeg: str, out: Path, duration_s: float) -> PackageCheck:
    """The ladder is complete and playable: no variant may win by doing less."""
    master = out / "master.m3u8"
    if not master.is_file():
        raise BenchError(f"{master} is missing")
    uris = [ln.strip() for ln in master.read_text().splitlines() if ln and ln[0] != "#"]
    expected = [f"{rung.name}/index.m3u8" for rung in LADDER]
    if sorted(uris) != sorted(expected):
        raise BenchError(f"{master} lists {uris}, expected {expected}")
    segments, durations = 0, []
    for rung in LADDER:
        playlist = out / rung.name / "index.m3u8"
        text = playlist.read_text()
        if "#EXT-X-ENDLIST" not in text:
            raise BenchError(f"{playlist} is not finished")
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
        if init is None or not (playlist.parent / init.group(1)).is_file():
            raise BenchError(f"{playlist}: init segment missing")
        extinf = re.findall(r"#EXTINF:([\d.]+)", text)
        names = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        if not names or any((playlist.parent / n).stat().st_size == 0 for n in names):
            raise BenchError(f"{playlist}: missing or empty segments")
        if abs(sum(map(float, extinf)) - duration_s) > 0.25:
            raise BenchError(f"{playlist}: lasts {sum(map(float, extinf)):.2f} s")
        segments += len(names)
        durations.append(tuple(f"{float(d):.3f}" for d in extinf))
        video, audio, frames = _stream_facts(ffmpeg, playlist)
        size = re.search(r", (\d+)x(\d+)", video)
        rate = re.search(r"([\d.]+) fps", video)
        if size is None or (int(size[1]), int(size[2])) != (rung.width, rung.height):
            raise BenchError(f"{playlist}: video is not {rung.width}x{rung.height}: {video}")
        if "h264 (High)" not in video or rate is None or abs(float(rate[1]) - FPS) > 0.01:
            raise BenchError(f"{playlist}: not H.264 High at {FPS} fps: {video}")
        if not ("aac" in audio and "48000 Hz" in audio and "stereo" in audio):
            raise BenchError(f"{playlist}: audio is not AAC 48 kHz stereo: {audio!r}")
        if abs(frames - duration_s * FPS) > 2:
            raise BenchError(f"{playlist}: {frames} frames, expected {duration_s * FPS:.0f}")
    media = [p for p in out.rglob("*") if p.suffix in (".m4s", ".mp4", ".m3u8")]
    return PackageCheck(sum(p.stat().st_size for p in media), segments, tuple(durations))


def check_ladder_matches_vodforge(ctx: Context) -> None:
    planned = _vodforge_ladder(ctx)
    mine = [
        (r.name, r.width, r.height, float(FPS), r.maxrate_k, r.bufsize_k, r.crf) for r in LADDER
    ]
    theirs = [
        (r.name, r.width, r.height, r.fps, r.video_bitrate_kbps, r.bufsize_kbps, r.crf)
        for r in planned
    ]
    if mine != theirs:
        raise BenchError(f"the written-out ladder {mine} differs from plan_ladder {theirs}")


# ----------------------------------------------------------------------------- setup


def make_source(ffmpeg: str, path: Path, duration_s: int, kind: str) -> str:
    description, video, bitrate, maxrate = SOURCES[kind]
    # fmt: off
    argv = [
        ffmpeg, "-nostdin", "-hide_banner", "-y",
        "-f", "lavfi", "-i", video.format(d=duration_s),
        "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:sample_rate=48000:d={duration_s}",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "fast", "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-b:v", bitrate, "-maxrate", maxrate, "-bufsize", "16M", "-g", "60",
        "-c:a", "aac", "-b:a", "192k", "-ac", "2",
        "-movflags", "+faststart", "-t", str(duration_s), str(path),
    ]
    # fmt: on
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BenchError(f"cannot generate the source: {result.stderr[-600:]}")
    mbps = path.stat().st_size * 8 / duration_s / 1e6
    return (
        f"{duration_s} s, {description}; file {path.stat().st_size / MB:.1f} MiB = {mbps:.1f} Mb/s"
    )


def machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
    return [
        f"nproc: {len(os.sched_getaffinity(0))} (os.cpu_count {os.cpu_count()})",
        f"cpu: {model[1].strip() if model else '?'}",
        f"ram: {int(mem[1]) / MB:.1f} GiB" if mem else "ram: ?",
        f"kernel: {platform.release()}; python {platform.python_version()}",
        f"load average at start: {Path('/proc/loadavg').read_text().split()[:3]}",
    ]


def ffmpeg_version(ffmpeg: str) -> str:
    result = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else "?"


def command_line() -> str:
    spec = globals().get("__spec__")
    if spec is not None and spec.name:
        return shlex.join([sys.executable, "-m", spec.name, *sys.argv[1:]])
    return shlex.join([sys.executable, *sys.argv])


# ----------------------------------------------------------------------------- reporting


def _med(values: Sequence[float]) -> float:
    return statistics.median(values)


def _spread(values: Sequence[float], unit: str = "") -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}{unit}"
    return f"{_med(values):.1f}{unit} [{min(values):.1f}-{max(values):.1f}]"


def report(
    results: dict[str, list[Measure]],
    checks: dict[str, list[PackageCheck]],
    decode: list[Measure],
) -> list[str]:
    lines = []
    header = f"{'variant':<42} {'wall s med [min-max]':>22} {'CPU s med [min-max]':>22}"
    header += f" {'CPU/wall':>8} {'tree RSS':>9} {'output':>8} {'other load':>10}"
    lines += [header, "-" * len(header)]
    for variant in VARIANTS:
        runs = results.get(variant.key)
        if not runs:
            continue
        walls, cpus = [m.wall_s for m in runs], [m.cpu_s for m in runs]
        rss = max(m.tree_maxrss_kb for m in runs) / 1024
        out_mb = _med([c.bytes_total for c in checks[variant.key]]) / MB
        lines.append(
            f"{variant.label:<42} {_spread(walls):>22} {_spread(cpus):>22} "
            f"{_med(cpus) / _med(walls):>8.2f} {rss:>7.0f}MB {out_mb:>6.1f}MB "
            f"{_med([m.foreign_cores for m in runs]):>5.2f} cores"
        )
    if decode:
        walls, cpus = [m.wall_s for m in decode], [m.cpu_s for m in decode]
        lines.append(
            f"{'(x) diag: decode source only (-f null)':<42} {_spread(walls):>22} "
            f"{_spread(cpus):>22} {_med(cpus) / _med(walls):>8.2f} {'':>9} {'':>8} "
            f"{_med([m.foreign_cores for m in decode]):>5.2f} cores"
        )
    noisy = sum(m.foreign_cores > 0.2 for runs in results.values() for m in runs)
    lines.append(
        "other load = CPU the rest of the machine used during the run, in cores (from "
        f"/proc/stat); runs above 0.2 cores (contaminated by a neighbour): {noisy}"
    )
    lines.append("")

    def med(key: str, attr: str) -> float | None:
        runs = results.get(key)
        return _med([getattr(m, attr) for m in runs]) if runs else None

    cpu_a, cpu_b, cpu_c, cpu_d = (med(k, "cpu_s") for k in "abcd")
    wall_a, wall_b, wall_c, wall_d = (med(k, "wall_s") for k in "abcd")
    lines.append("targets (medians):")
    if cpu_a and cpu_b:
        ratio = cpu_a / cpu_b
        verdict = "MET" if ratio <= 0.80 else "MISSED"
        lines.append(f"  CPU(a)/CPU(b)  = {ratio:.3f}   target <= 0.80   {verdict}")
    if wall_a and wall_c:
        ratio = wall_a / wall_c
        verdict = "MET" if ratio <= 1.05 else "MISSED"
        lines.append(f"  wall(a)/wall(c) = {ratio:.3f}   target <= 1.05   {verdict}")
    if results.get("a"):
        runs = results["a"]
        rss = [m.extra["py_maxrss_kb"] / 1024 for m in runs]
        hwm = max(m.extra["py_hwm_kb"] for m in runs) / 1024
        verdict = "MET" if max(rss) < 150 else "MISSED"
        lines.append(
            f"  Python worker peak RSS (RUSAGE_SELF, excl. ffmpeg) = {_spread(rss, ' MB')}"
            f" (max {max(rss):.1f} MB; sampled VmHWM max {hwm:.1f} MB)   target < 150 MB   "
            f"{verdict}"
        )
    lines.append("")
    lines.append("diagnostic ratios (medians):")
    if cpu_c and cpu_b:
        lines.append(
            f"  CPU(c)/CPU(b)   = {cpu_c / cpu_b:.3f}   (the decode-once saving by itself)"
        )
    if cpu_d and cpu_b:
        lines.append(f"  CPU(d)/CPU(b)   = {cpu_d / cpu_b:.3f}   (vodforge's argv, bare)")
    if cpu_a and cpu_d:
        lines.append(f"  CPU(a)-CPU(d)   = {cpu_a - cpu_d:+.2f} s (pipeline around the ffmpeg)")
    if wall_d and wall_c:
        lines.append(f"  wall(d)/wall(c) = {wall_d / wall_c:.3f}   (vodforge's argv vs by-hand)")
    if wall_a and wall_d:
        lines.append(f"  wall(a)-wall(d) = {wall_a - wall_d:+.2f} s (pipeline around the ffmpeg)")
    if wall_b and wall_c:
        lines.append(f"  wall(b)/wall(c) = {wall_b / wall_c:.3f}")
    if decode and cpu_b:
        extra = 3 * _med([m.cpu_s for m in decode])
        lines.append(
            f"  3 extra decodes ~ {extra:.1f} CPU s = {extra / cpu_b:.1%} of CPU(b): the most "
            "decode-once can save"
        )
    if results.get("a"):
        runs = results["a"]
        lines.append("")
        lines.append("(a) breakdown, medians (from vodforge's JSON log + RUSAGE_SELF):")
        lines.append(
            f"  CPU: Python worker {_med([m.extra['py_cpu_s'] for m in runs]):.2f} s, "
            f"ffmpeg children (probe + transcode with images) "
            f"{_med([m.extra['ffmpeg_cpu_s'] for m in runs]):.2f} s"
        )
        stages = [k for k in runs[0].extra if k.startswith("st_")]
        for stage in stages:
            values = [m.extra[stage] for m in runs if stage in m.extra]
            lines.append(f"  wall {stage[3:]:<24} {_med(values):7.2f} s")
    if results.get("b"):
        runs = results["b"]
        lines.append("")
        lines.append("(b) per rendition, medians:")
        for rung in LADDER:
            wall = _med([m.extra[f"rung_{rung.name}_wall_s"] for m in runs])
            cpu = _med([m.extra[f"rung_{rung.name}_cpu_s"] for m in runs])
            lines.append(f"  {rung.name:<6} wall {wall:6.2f} s  CPU {cpu:6.2f} s")
    lines.append("")
    lines.append("package checks (every run): master.m3u8 lists all 4 renditions; each playlist")
    lines.append(
        "  ends with ENDLIST, has its init + non-empty segments, lasts the source duration,"
    )
    lines.append(
        "  and ffmpeg reads it as H.264 High WxH@30 with the full frame count + AAC stereo."
    )
    for key, items in checks.items():
        aligned = all(len(set(c.segment_durations)) == 1 for c in items)
        lines.append(
            f"  ({key}) {len(items)} run(s) OK, {items[0].segments} segments, "
            f"segment boundaries identical across renditions: {'yes' if aligned else 'NO'}"
        )
    return lines


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=60, help="source seconds")
    parser.add_argument("--quick", action="store_true", help="1 round on a 20 s source")
    parser.add_argument("--source", choices=sorted(SOURCES), default="testsrc2")
    parser.add_argument("--no-diag", action="store_true", help="skip (d) and decode-only")
    parser.add_argument("--variants", default="abcd", help="subset to run, e.g. 'ac'")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180.0,
        help="before each run, wait up to this many seconds for other load to stop (0: never)",
    )
    args = parser.parse_args(argv)
    rounds, duration = (1, 20) if args.quick else (args.rounds, args.duration)
    chosen = [v for v in VARIANTS if v.key in args.variants]
    if args.no_diag:
        chosen = [v for v in chosen if not v.diagnostic]

    ffmpeg = find_ffmpeg()
    print("vodforge transcode benchmark", flush=True)
    print(f"command: cd {Path.cwd()} && {command_line()}")
    for line in machine():
        print(f"machine: {line}")
    print(f"ffmpeg: {ffmpeg_version(ffmpeg)} ({ffmpeg})")
    with tempfile.TemporaryDirectory(prefix="vodforge-bench-") as tmp:
        root = Path(tmp)
        source = root / "source.mp4"
        started = time.monotonic()
        description = make_source(ffmpeg, source, duration, args.source)
        print(f"source: {description} (generated in {time.monotonic() - started:.0f} s)")
        probe = probe_source(source, InputLimits(), ffmpeg)
        ctx = Context(ffmpeg, source, probe.duration_s, probe, root)
        check_ladder_matches_vodforge(ctx)
        print(
            "ladder: "
            + ", ".join(f"{r.name} {r.width}x{r.height} maxrate {r.maxrate_k}k" for r in LADDER)
            + f"; {FPS} fps, CRF 21, bufsize 2x maxrate, libx264 veryfast high, GOP {GOP} "
            f"(closed, no scene-cut, forced every {GOP_S} s), fMP4 HLS {SEGMENT_S} s, "
            "AAC 128k stereo 48 kHz per rendition (matches vodforge plan_ladder)"
        )
        print(f"rounds: {rounds}, order rotates each round; variants: {[v.key for v in chosen]}")
        print(flush=True)

        results: dict[str, list[Measure]] = {}
        checks: dict[str, list[PackageCheck]] = {}
        decode: list[Measure] = []
        logs = root / "logs"
        logs.mkdir()
        for round_no in range(rounds):
            shift = round_no % len(chosen)
            for variant in chosen[shift:] + chosen[:shift]:
                tag = f"r{round_no}-{variant.key}"
                out = root / f"{tag}-out"
                if args.quiet_wait > 0:
                    waited, load = wait_until_quiet(args.quiet_wait)
                    if waited > 2.5:
                        print(f"  (waited {waited:.0f} s for other load; now {load:.2f} cores)")
                measure = variant.run(ctx, out, logs, tag)
                check = check_package(ffmpeg, out, probe.duration_s)
                shutil.rmtree(out)
                results.setdefault(variant.key, []).append(measure)
                checks.setdefault(variant.key, []).append(check)
                print(
                    f"round {round_no + 1} {variant.label:<42} wall {measure.wall_s:6.1f} s  "
                    f"CPU {measure.cpu_s:6.1f} s  output {check.bytes_total / MB:5.1f} MB  "
                    f"other load {measure.foreign_cores:.2f} cores",
                    flush=True,
                )
            if not args.no_diag:
                if args.quiet_wait > 0:
                    wait_until_quiet(args.quiet_wait)
                decode.append(decode_only(ctx, logs, f"r{round_no}-x"))
        print()
        for line in report(results, checks, decode):
            print(line)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
