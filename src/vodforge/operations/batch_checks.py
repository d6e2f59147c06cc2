"""Doctor's AWS Batch checks: why would a submitted job never start?

A Batch job waits RUNNABLE, silently and forever, when nothing can place it: the queue is
DISABLED or INVALID, its compute environments are DISABLED, INVALID, or capped below the job's
vCPUs (maxvCpus 0 is the classic), the job definition was deregistered, or the queue name has a
typo. Each check names the problem and the command that fixes it. `client` is a boto3 Batch
client (or anything answering the same calls); nothing here imports boto3.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from vodforge.operations.checks import Check, first_line

EC2_TYPES = {"EC2", "SPOT"}
FARGATE_TYPES = {"FARGATE", "FARGATE_SPOT"}
API_FIX = (
    "check AWS credentials and region (AWS_REGION), network access to the Batch endpoint "
    "(AWS_ENDPOINT_URL_BATCH for a stand-in), and that this role may call batch:Describe* "
    "and batch:ListJobs"
)


@dataclass(frozen=True)
class JobShape:
    """What the job definition asks of a compute environment."""

    vcpus: float | None
    platform: str  # EC2 or FARGATE


def batch_checks(
    client: Any, queue: str, job_definition: str, *, runnable_after_s: float, now: float
) -> list[Check]:
    try:
        definition_check, shape = check_job_definition(client, job_definition)
        queue_check, queue_info = check_job_queue(client, queue)
    except Exception as exc:
        return [
            Check("batch.api", False, f"the Batch API did not answer: {first_line(exc)}", API_FIX)
        ]
    meta = getattr(client, "meta", None)
    where = (
        f"region {getattr(meta, 'region_name', '?')}, endpoint {getattr(meta, 'endpoint_url', '?')}"
    )
    checks = [Check("batch.api", True, f"answers ({where})"), definition_check, queue_check]
    if queue_info is None:
        return checks
    try:
        checks.append(check_compute_environments(client, queue_info, shape))
    except Exception as exc:
        checks.append(_call_failed("batch.compute_environments", exc))
    try:
        checks.append(check_runnable_jobs(client, queue, runnable_after_s, now))
    except Exception as exc:
        checks.append(_call_failed("batch.runnable_jobs", exc))
    return checks


def _call_failed(name: str, exc: Exception) -> Check:
    return Check(name, False, f"the Batch call failed: {first_line(exc)}", API_FIX)


# -- job definition ----------------------------------------------------------------------------


def check_job_definition(client: Any, name: str) -> tuple[Check, JobShape | None]:
    check = "batch.job_definition"
    revisions = _job_definitions(client, name)
    active = [d for d in revisions if d.get("status") == "ACTIVE"]
    if not active:
        if revisions:
            return Check(
                check,
                False,
                f"{name}: INACTIVE (deregistered); submits to it fail",
                "register it again: `vodforge batch job-definition --image URI > jd.json && aws "
                "batch register-job-definition --cli-input-json file://jd.json`, then set "
                "VODFORGE_BATCH_JOB_DEFINITION to its name",
            ), None
        return Check(
            check,
            False,
            f"no job definition {name!r}",
            'register one (`vodforge batch job-definition`, README "AWS Batch") or fix '
            "VODFORGE_BATCH_JOB_DEFINITION",
        ), None
    # A bare name submits the latest ACTIVE revision, as Batch itself does.
    definition = max(active, key=lambda d: int(d.get("revision", 0)))
    shape = _job_shape(definition)
    label = f"{definition.get('jobDefinitionName')}:{definition.get('revision')}"
    command = (definition.get("containerProperties") or {}).get("command") or []
    if "run-job" not in command or "Ref::job_id" not in command:
        return Check(
            check,
            False,
            f"{label}: ACTIVE, but its command {command} does not run `vodforge run-job "
            "Ref::job_id`",
            'register a revision whose command is ["vodforge", "run-job", "Ref::job_id"] '
            "(`vodforge batch job-definition`)",
        ), shape
    vcpus = "?" if shape.vcpus is None else f"{shape.vcpus:g}"
    detail = f"{label}: ACTIVE, {vcpus} vCPU, {shape.platform}, runs {' '.join(command)}"
    attempts = (definition.get("retryStrategy") or {}).get("attempts", 1)
    if attempts > 1:
        return Check(
            check,
            True,
            f"{detail}; warning: retryStrategy.attempts is {attempts}",
            "set retryStrategy.attempts to 1: vodforge retries jobs itself (lease expiry and "
            "backoff), Batch retries only add containers that find the job taken",
        ), shape
    return Check(check, True, detail), shape


def _job_definitions(client: Any, name: str) -> list[dict[str, Any]]:
    """Every revision `name` can mean: an ARN, `name:revision`, or all revisions of a name."""
    if name.startswith("arn:"):
        return list(client.describe_job_definitions(jobDefinitions=[name])["jobDefinitions"])
    base, _, revision = name.partition(":")
    found: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"jobDefinitionName": base}
        if token:
            params["nextToken"] = token
        response = client.describe_job_definitions(**params)
        found += response.get("jobDefinitions", [])
        token = response.get("nextToken")
        if not token:
            break
    return [d for d in found if not revision or str(d.get("revision")) == revision]


def _job_shape(definition: dict[str, Any]) -> JobShape:
    container = definition.get("containerProperties") or {}
    vcpus: float | None = None
    for requirement in container.get("resourceRequirements") or []:
        if requirement.get("type") == "VCPU":
            vcpus = float(requirement["value"])
    if vcpus is None and container.get("vcpus") is not None:
        vcpus = float(container["vcpus"])
    platforms = definition.get("platformCapabilities") or ["EC2"]
    return JobShape(vcpus, "FARGATE" if "FARGATE" in platforms else "EC2")


# -- queue -------------------------------------------------------------------------------------


def check_job_queue(client: Any, queue: str) -> tuple[Check, dict[str, Any] | None]:
    check = "batch.job_queue"
    found = client.describe_job_queues(jobQueues=[queue]).get("jobQueues", [])
    if not found:
        names = _queue_names(client)
        guess = difflib.get_close_matches(queue, names, n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        known = ", ".join(names[:10]) or "none"
        return Check(
            check,
            False,
            f"no job queue {queue!r} in this account and region{hint} (queues: {known})",
            "set VODFORGE_BATCH_JOB_QUEUE to an existing queue's name or ARN, or create the "
            'queue (README "AWS Batch")',
        ), None
    info = dict(found[0])
    name = info.get("jobQueueName", queue)
    state, status = info.get("state"), info.get("status")
    problems, fixes = [], []
    if state != "ENABLED":
        problems.append(f"state {state}: it accepts no new jobs")
        fixes.append(f"aws batch update-job-queue --job-queue {name} --state ENABLED")
    if status != "VALID":
        reason = info.get("statusReason") or "no reason given"
        problems.append(f"status {status} ({reason})")
        fixes.append(
            "fix what the statusReason names (usually a compute environment) and update it"
        )
    if not info.get("computeEnvironmentOrder"):
        problems.append("no compute environment attached")
        fixes.append(
            f"aws batch update-job-queue --job-queue {name} --compute-environment-order "
            "order=1,computeEnvironment=NAME"
        )
    if problems:
        return Check(check, False, f"{name}: " + "; ".join(problems), "; ".join(fixes)), info
    return Check(check, True, f"{name}: ENABLED and VALID"), info


def _queue_names(client: Any) -> list[str]:
    names: list[str] = []
    token = None
    while True:
        response = client.describe_job_queues(**({"nextToken": token} if token else {}))
        names += [q["jobQueueName"] for q in response.get("jobQueues", [])]
        token = response.get("nextToken")
        if not token:
            return sorted(names)


# -- compute environments ------------------------------------------------------------------------


def check_compute_environments(
    client: Any, queue_info: dict[str, Any], shape: JobShape | None
) -> Check:
    check = "batch.compute_environments"
    order = sorted(queue_info.get("computeEnvironmentOrder") or [], key=lambda o: o["order"])
    arns = [o["computeEnvironment"] for o in order]
    if not arns:
        return Check(
            check, False, "the queue has no compute environment", "attach one to the queue"
        )
    described = client.describe_compute_environments(computeEnvironments=arns)
    by_key: dict[str, dict[str, Any]] = {}
    for env in described.get("computeEnvironments", []):
        by_key[env["computeEnvironmentArn"]] = env
        by_key[env["computeEnvironmentName"]] = env
    usable: list[str] = []
    problems: list[str] = []
    fixes: list[str] = []
    for arn in arns:
        env = by_key.get(arn)
        if env is None:
            problems.append(f"{arn}: does not exist")
            fixes.append("attach an existing compute environment to the queue")
            continue
        found = _environment_problems(env, shape)
        if not found:
            usable.append(env["computeEnvironmentName"])
        for problem, fix in found:
            problems.append(f"{env['computeEnvironmentName']}: {problem}")
            fixes.append(fix)
    if not usable:
        return Check(
            check,
            False,
            "no compute environment of the queue can place the job, so it would wait RUNNABLE "
            "forever: " + "; ".join(problems),
            "; ".join(fixes),
        )
    detail = f"{', '.join(usable)} can place the job"
    if problems:
        return Check(check, True, f"{detail}; warning: " + "; ".join(problems), "; ".join(fixes))
    return Check(check, True, detail)


def _environment_problems(env: dict[str, Any], shape: JobShape | None) -> list[tuple[str, str]]:
    name = env["computeEnvironmentName"]
    update = f"aws batch update-compute-environment --compute-environment {name}"
    found: list[tuple[str, str]] = []
    if env.get("state") != "ENABLED":
        found.append((f"state {env.get('state')}", f"{update} --state ENABLED"))
    if env.get("status") != "VALID":
        reason = env.get("statusReason") or "no reason given"
        found.append(
            (
                f"status {env.get('status')} ({reason})",
                f"fix what {name}'s statusReason names (often its service or instance role, "
                "subnets or security groups), or create a new compute environment",
            )
        )
    resources = env.get("computeResources")
    if resources and shape is not None:
        max_vcpus = float(resources.get("maxvCpus", 0))
        if shape.vcpus is not None and max_vcpus < shape.vcpus:
            needed = f"{shape.vcpus:g}"
            found.append(
                (
                    f"maxvCpus {max_vcpus:g} is below the job's {needed} vCPU",
                    f"{update} --compute-resources maxvCpus={max(int(shape.vcpus + 0.999), 1)} "
                    "(or more, for parallel jobs)",
                )
            )
        kind = resources.get("type", "EC2")
        wanted = FARGATE_TYPES if shape.platform == "FARGATE" else EC2_TYPES
        if kind not in wanted:
            found.append(
                (
                    f"type {kind} cannot run a {shape.platform} job definition",
                    f"attach a {shape.platform} compute environment, or register the job "
                    f"definition for {kind} (`vodforge batch job-definition --platform ...`)",
                )
            )
    return found


# -- jobs waiting --------------------------------------------------------------------------------


def check_runnable_jobs(client: Any, queue: str, older_than_s: float, now: float) -> Check:
    check = "batch.runnable_jobs"
    waiting: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"jobQueue": queue, "jobStatus": "RUNNABLE"}
        if token:
            params["nextToken"] = token
        response = client.list_jobs(**params)
        waiting += response.get("jobSummaryList", [])
        token = response.get("nextToken")
        if not token:
            break
    stuck = [job for job in waiting if now - job.get("createdAt", now * 1000) / 1000 > older_than_s]
    if not stuck:
        return Check(
            check,
            True,
            f"{len(waiting)} job(s) RUNNABLE, none for longer than {older_than_s:g} s",
        )
    shown = [
        f"{job.get('jobName')} ({job.get('jobId')}) for {now - job['createdAt'] / 1000:.0f} s: "
        f"{job.get('statusReason') or 'no statusReason'}"
        for job in stuck[:10]
    ]
    more = f" and {len(stuck) - 10} more" if len(stuck) > 10 else ""
    return Check(
        check,
        False,
        f"{len(stuck)} job(s) RUNNABLE for longer than {older_than_s:g} s: "
        + "; ".join(shown)
        + more,
        "a job stays RUNNABLE while no compute environment can place it: fix what the compute "
        "environment check and the statusReason say (maxvCpus, DISABLED or INVALID "
        "environments, the instance role, an image built for another CPU architecture, no "
        "route from the subnets to ECR)",
    )
