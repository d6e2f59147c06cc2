"""Operator commands for readiness and deployment: `doctor` and `batch job-definition`; and
the executor lines of `status --events`."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from typing import Any

from vodforge.cli import arguments as a
from vodforge.cli.output import emit
from vodforge.errors import ConfigError
from vodforge.executors.batch_definition import (
    PLATFORMS,
    JobDefinitionSpec,
    default_secrets,
    job_definition_document,
)
from vodforge.operations.checks import Check, DoctorReport
from vodforge.operations.doctor import DoctorConfig, run_doctor
from vodforge.settings import Settings

Add = Callable[..., argparse.ArgumentParser]


def register(add: Add) -> None:
    """Adds `doctor` and `batch job-definition` to the parser's command table."""
    c = add(
        "doctor",
        cmd_doctor,
        "readiness: database, ffmpeg, storage, Redis, executor settings, Batch queue health",
        with_components=False,
    )
    # Doctor reads the settings itself: a bad variable is one of the things it reports.
    c.set_defaults(reads_settings=True)
    c.add_argument(
        "--runnable-after",
        type=a.seconds_up_to(7 * 24 * 3600),
        default=600.0,
        metavar="SECONDS",
        help="list Batch jobs RUNNABLE for longer than this (default 600)",
    )
    batch = add("batch", None, "AWS Batch deployment helpers").add_subparsers(
        dest="batch_command", required=True, metavar="ACTION"
    )
    c = add(
        "job-definition",
        cmd_batch_job_definition,
        "print the job definition for `aws batch register-job-definition --cli-input-json`",
        under=batch,
        with_components=False,
    )
    spec = JobDefinitionSpec()
    c.add_argument("--image", default=spec.image, metavar="URI", help="the vodforge image")
    c.add_argument("--name", type=batch_name, default=spec.name, help="jobDefinitionName")
    c.add_argument("--vcpus", type=vcpus, default=spec.vcpus, help="0.25 to 192 (default 2)")
    c.add_argument("--memory", type=a.int_between(512), default=spec.memory_mib, metavar="MIB")
    c.add_argument(
        "--timeout",
        type=a.int_between(60),
        default=spec.timeout_s,
        metavar="SECONDS",
        help="attemptDurationSeconds: Batch stops a longer attempt (default 6 h)",
    )
    c.add_argument("--platform", type=str.upper, choices=PLATFORMS, default=spec.platform)
    c.add_argument("--region", help="awslogs region (default: AWS_REGION or REGION)")
    c.add_argument("--log-group", default=spec.log_group)
    c.add_argument("--job-role-arn", default=spec.job_role_arn)
    c.add_argument("--execution-role-arn", default=spec.execution_role_arn)


def vcpus(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of vCPUs") from None
    if not 0.25 <= number <= 192:  # Fargate's smallest task to the largest EC2 instances
        raise argparse.ArgumentTypeError(f"{value} is out of range: 0.25 to 192")
    return number


def batch_name(value: str) -> str:
    """Batch's rule for job definition names: 1-128 letters, digits, hyphens, underscores."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", value):
        raise argparse.ArgumentTypeError(
            f"{value[:140]!r} is not a job definition name (1-128 letters, digits, - and _)"
        )
    return value


# -- doctor ------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        report = DoctorReport(
            [
                Check(
                    "settings",
                    False,
                    exc.message,
                    "fix the VODFORGE_* variable named above (README: Configuration)",
                )
            ]
        )
    else:
        report = run_doctor(doctor_config(settings, args.runnable_after))
    emit(report.to_json(), as_json=args.json, text=doctor_text(report))
    return 0 if report.ok else 1


def doctor_config(settings: Settings, runnable_after_s: float) -> DoctorConfig:
    return DoctorConfig(
        database_url=settings.database_url,
        storage_url=settings.storage_url,
        s3_endpoint_url=settings.s3_endpoint_url,
        redis_url=settings.redis_url,
        executor=settings.executor,
        batch_job_queue=settings.batch_job_queue,
        batch_job_definition=settings.batch_job_definition,
        ffmpeg_override=settings.ffmpeg_path,
        runnable_after_s=runnable_after_s,
    )


def doctor_text(report: DoctorReport) -> str:
    width = max(len(check.name) for check in report.checks)
    lines = []
    for check in report.checks:
        mark = ("warn" if check.fix else "ok") if check.ok else "FAIL"
        lines.append(f"{mark:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failed = sum(not check.ok for check in report.checks)
    lines.append(f"{failed} of {len(report.checks)} checks failed" if failed else "all checks pass")
    return "\n".join(lines)


# -- batch job-definition ----------------------------------------------------------------------


def cmd_batch_job_definition(settings: Settings, args: argparse.Namespace) -> int:
    spec = JobDefinitionSpec(
        name=args.name,
        image=args.image,
        vcpus=args.vcpus,
        memory_mib=args.memory,
        timeout_s=args.timeout,
        platform=args.platform,
        region=args.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "REGION",
        log_group=args.log_group,
        job_role_arn=args.job_role_arn,
        execution_role_arn=args.execution_role_arn,
        environment=container_environment(settings),
        secrets=default_secrets(),
    )
    document = job_definition_document(spec)
    # The document is the result either way: it is what --cli-input-json reads.
    emit(document, as_json=args.json, text=json.dumps(document, indent=2))
    return 0


def container_environment(settings: Settings) -> dict[str, str]:
    """Plain-text variables a run-job container needs. Values that may carry credentials
    (database URL, internal token) are secrets instead; Redis is a placeholder to edit."""
    storage = settings.storage_url
    env = {
        "VODFORGE_STORAGE_URL": storage if storage.startswith("s3://") else "s3://BUCKET/vodforge",
        "VODFORGE_REDIS_URL": "redis://REDIS_HOST:6379/0",
        # The worker's lease timing must be the scheduler's: it decides when a lease expired.
        "VODFORGE_HEARTBEAT_S": f"{settings.heartbeat_s:g}",
        "VODFORGE_LEASE_TTL_S": f"{settings.lease_ttl_s:g}",
    }
    if settings.s3_endpoint_url:
        env["VODFORGE_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


# -- status --events ---------------------------------------------------------------------------


def job_runs_text(runs: list[dict[str, Any]]) -> str:
    """One line per job: its state and what the executor says about its run."""
    lines = []
    for run in runs:
        line = (
            f"\n  {run.get('kind', 'job')} {run['id']} {run['state']} "
            f"attempt {run['attempt_count']}/"
            f"{run['max_attempts']} via {run['executor']}"
        )
        if run["executor_ref"]:
            line += f" {run['executor_ref']}"
        status = run["executor_status"]
        if status:
            line += f": {status['status']}"
            if status["reason"]:
                line += f" ({status['reason']})"
        if run["dispatch_error"]:
            line += f" [dispatch failed {run['dispatch_failures']}x: {run['dispatch_error']}]"
        lines.append(line)
    return "".join(lines)
