"""bench/transcode/overhead.py's report: the ratio per source against its target, and (a)'s
time outside ffmpeg from its stages."""

from __future__ import annotations

from bench.transcode.overhead import STAGES, SourceRuns, report
from bench.transcode.run import Measure

FFMPEG = "st_ffmpeg_and_validate"


def run_a(wall_s: float, outside_each_s: float) -> Measure:
    stages = {key: outside_each_s for key in STAGES} | {FFMPEG: 20.0}
    return Measure(wall_s=wall_s, cpu_s=wall_s, extra=stages | {"py_cpu_s": 1.0})


def row(lines: list[str], start: str) -> str:
    (found,) = [line for line in lines if line.lstrip().startswith(start)]
    return found


def test_each_source_is_judged_by_its_own_target() -> None:
    twenty = SourceRuns(20, "20 s", a=[run_a(21.0, 0.1), run_a(20.8, 0.1), run_a(22.0, 0.1)])
    twenty.c = [Measure(wall_s=w, cpu_s=w) for w in (20.0, 20.4, 20.2)]
    sixty = SourceRuns(60, "60 s", a=[run_a(62.0, 0.2)], c=[Measure(wall_s=60.0, cpu_s=60.0)])
    lines = report([twenty, sixty])
    # Medians 21.0 / 20.2 = 1.040 <= 1.05; 62.0 / 60.0 = 1.033 > 1.02.
    assert "1.040" in row(lines, "20 s") and "MET" in row(lines, "20 s")
    assert "1.033" in row(lines, "60 s") and "MISSED" in row(lines, "60 s")
    outside = row(lines, "(a) outside ffmpeg, total").split()[-2:]
    assert outside == [f"{0.1 * (len(STAGES) - 1):.2f}", f"{0.2 * (len(STAGES) - 1):.2f}"]
    assert row(lines, "as a share of wall(c)").split()[-2:] == ["3.5%", "2.3%"]


def test_a_run_without_its_stage_log_shows_unknown() -> None:
    runs = SourceRuns(30, "30 s", a=[Measure(wall_s=31.0, cpu_s=31.0, extra={"py_cpu_s": 1.0})])
    runs.c = [Measure(wall_s=30.0, cpu_s=30.0)]
    lines = report([runs])
    assert "-" in row(lines, "30 s").split()  # no target for this length
    assert row(lines, "(a) outside ffmpeg, total").split()[-1] == "?"
