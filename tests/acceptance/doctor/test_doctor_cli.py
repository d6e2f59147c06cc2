"""`vodforge doctor` as an operator runs it: the embedded default passes without loading an
optional dependency it does not need, and each broken part fails its check with a fix."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.cli import REPO_ROOT, cli_env, run_cli
from tests.support.databases import PostgresDatabases, fresh_database, require_service
from tests.support.skew import run_skewed
from vodforge.db.engine import make_engine
from vodforge.db.migrate import HEAD_REVISION
from vodforge.operations.ffmpeg_check import bundled_ffmpeg

pytestmark = pytest.mark.slow

# Imported only when the deployment uses them: S3 storage or Batch (boto3), Redis, PostgreSQL.
OPTIONAL = ("boto3", "botocore", "redis", "psycopg")


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The embedded default: nothing configured but the data directory."""
    env = cli_env("", data_dir, **extra)
    for name in ("VODFORGE_DATABASE_URL", "VODFORGE_INTERNAL_TOKEN"):
        env.pop(name)
    return {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT")}


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["doctor", "--json", *args], env)
    report: dict[str, Any] = json.loads(result.stdout)
    assert set(report) == {"ok", "checks"}
    assert report["ok"] is (result.returncode == 0), result.stderr
    for check in report["checks"]:
        assert set(check) == {"name", "ok", "detail", "fix"}
        assert check["ok"] or check["fix"], check
    return result.returncode, report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def test_embedded_default_passes_and_imports_nothing_optional(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    result = run_cli_importtime(["doctor", "--json"], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == ["database", "ffmpeg", "storage", "executor"]
    checks = by_name(report)
    assert "not created yet" in checks["database"]["detail"]
    assert "libx264" in checks["ffmpeg"]["detail"]
    assert "write, read and delete work" in checks["storage"]["detail"]
    imported = imported_modules(result.stderr)
    assert "vodforge.operations.doctor" in imported  # the measurement saw doctor itself
    assert [name for name in OPTIONAL if name in imported] == []
    # The round trip leaves no object behind.
    assert list((tmp_path / "data" / "storage").rglob("*.txt")) == []


def test_text_output_and_an_unwritable_storage(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = embedded_env(tmp_path / "data", VODFORGE_STORAGE_URL=f"file://{blocker}/storage")
    result = run_cli(["doctor"], env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    storage = next(i for i, line in enumerate(lines) if line.startswith("FAIL  storage"))
    assert "NotADirectoryError" in lines[storage]
    assert "fix: make VODFORGE_STORAGE_URL" in lines[storage + 1]
    assert lines[-1] == "1 of 4 checks failed"
    assert any(line.startswith("ok    database") for line in lines)


def test_settings_that_do_not_parse_are_a_failed_check(tmp_path: Path) -> None:
    code, report = doctor(embedded_env(tmp_path / "data", VODFORGE_EXECUTOR="batch"))
    assert code == 1
    [check] = report["checks"]
    assert check["name"] == "settings" and "VODFORGE_BATCH_JOB_QUEUE" in check["detail"]


def test_ffmpeg_that_cannot_run_the_pipeline_fails(tmp_path: Path) -> None:
    # A binary that answers every question with nothing: no encoders, filters or muxers.
    code, report = doctor(embedded_env(tmp_path / "data", VODFORGE_FFMPEG="/bin/true"))
    assert code == 1
    check = by_name(report)["ffmpeg"]
    assert not check["ok"] and "(VODFORGE_FFMPEG)" in check["detail"]
    assert "lacks encoder libx264, encoder aac" in check["detail"]
    assert "hls" in check["detail"] and "VODFORGE_FFMPEG=" in check["fix"]


def test_an_older_system_ffmpeg_is_a_warning(tmp_path: Path) -> None:
    bundled = bundled_ffmpeg()
    assert bundled is not None
    # Debian 12's ffmpeg, as far as the version goes; everything else is the bundled build.
    old = tmp_path / "ffmpeg"
    old.write_text(
        "#!/bin/sh\n"
        'if [ "$3" = "-version" ]; then echo "ffmpeg version 5.1.6-0+deb12u1 Copyright"; '
        "exit 0; fi\n"
        f'exec {bundled} "$@"\n'
    )
    old.chmod(old.stat().st_mode | stat.S_IXUSR)
    code, report = doctor(embedded_env(tmp_path / "data", VODFORGE_FFMPEG=str(old)))
    assert code == 0
    check = by_name(report)["ffmpeg"]
    assert check["ok"] and "version 5.1.6" in check["detail"]
    assert re.search(r"warning: older than the bundled ffmpeg \d+\.\d+", check["detail"])
    assert (
        check["fix"] == f"set VODFORGE_FFMPEG={bundled} to use the bundled build, or upgrade ffmpeg"
    )


def test_embedded_schema_behind_is_migrated_on_start(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    code, report = doctor(env)
    assert code == 0
    assert f"schema at {HEAD_REVISION} (current)" in by_name(report)["database"]["detail"]
    set_revision(f"sqlite:///{tmp_path / 'data' / 'vodforge.db'}", "0002")
    code, report = doctor(env)
    assert code == 0
    assert "migrates itself on its next start" in by_name(report)["database"]["detail"]


def test_postgresql_schema_behind_and_redis_down(
    pg_databases: PostgresDatabases | None, tmp_path: Path
) -> None:
    require_service("PostgreSQL", pg_databases is not None)
    with fresh_database("postgresql", pg_databases, None, tmp_path) as url:  # type: ignore[arg-type]
        set_revision(url, "0002")
        env = cli_env(url, tmp_path / "data", VODFORGE_REDIS_URL="redis://127.0.0.1:1/0")
        code, report = doctor(env)
    assert code == 1
    assert [c["name"] for c in report["checks"] if not c["ok"]] == ["database", "redis"]
    checks = by_name(report)
    assert f"schema at 0002, behind {HEAD_REVISION}" in checks["database"]["detail"]
    assert "vodforge db upgrade" in checks["database"]["fix"]
    assert "VODFORGE_REDIS_URL" in checks["redis"]["fix"]


def test_the_clock_check_shows_how_far_this_machine_is_from_the_database(
    pg_databases: PostgresDatabases | None, tmp_path: Path
) -> None:
    """PostgreSQL only: on time, the check passes quietly; 5 s ahead (a shifted wall clock), it
    passes with advice, since leases follow the server's clock but this machine's stamps do not."""
    require_service("PostgreSQL", pg_databases is not None)
    with fresh_database("postgresql", pg_databases, None, tmp_path) as url:  # type: ignore[arg-type]
        env = cli_env(url, tmp_path / "data")
        code, report = doctor(env)
        skewed = run_skewed(5, ["doctor", "--json"], env)
    assert code == 0, report
    assert [c["name"] for c in report["checks"]][:2] == ["database", "clock"]
    on_time = by_name(report)["clock"]
    assert on_time["ok"] is True and on_time["fix"] is None, on_time
    measured = re.search(r"is (\d+\.\d+) s (behind|ahead of) the database", on_time["detail"])
    assert measured and float(measured[1]) < 1.0, on_time["detail"]

    assert skewed.returncode == 0, skewed.stderr
    clock = by_name(json.loads(skewed.stdout))["clock"]
    measured = re.search(r"is (\d+\.\d+) s ahead of the database", clock["detail"])
    assert measured and 4.0 < float(measured[1]) < 6.0, clock["detail"]
    assert clock["ok"] is True and "NTP" in clock["fix"], clock


def test_an_unreachable_database_has_no_clock_check(tmp_path: Path) -> None:
    env = cli_env("postgresql+psycopg://postgres@127.0.0.1:1/none", tmp_path / "data")
    code, report = doctor(env)
    assert code == 1
    names = [c["name"] for c in report["checks"]]
    assert "database" in names and "clock" not in names


def set_revision(database_url: str, revision: str) -> None:
    engine = make_engine(database_url, null_pool=True)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def run_cli_importtime(args: list[str], env: dict[str, str]) -> Any:
    """`python -X importtime -m vodforge ...`: stderr lists every module the run imported."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vodforge", *args],
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=os.fspath(REPO_ROOT),
    )


def imported_modules(importtime_stderr: str) -> set[str]:
    """Top-level names from `import time: self | cumulative | module` lines."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            names.add(module)
            names.add(module.split(".")[0])
    return names
