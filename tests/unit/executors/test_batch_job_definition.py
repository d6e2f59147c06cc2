"""`vodforge batch job-definition` prints what RegisterJobDefinition accepts: checked against
botocore's own service model, so a misspelled or misplaced key fails here, not at deploy."""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from vodforge.cli.operator import cmd_batch_job_definition
from vodforge.cli.parser import build_parser
from vodforge.executors.batch_definition import (
    PLATFORMS,
    JobDefinitionSpec,
    default_secrets,
    job_definition_document,
)
from vodforge.settings import Settings


@pytest.fixture(scope="module")
def register_shape() -> Any:
    model = botocore.session.get_session().get_service_model("batch")
    return model.operation_model("RegisterJobDefinition").input_shape


def printed(capsys: pytest.CaptureFixture[str], argv: list[str], env: dict[str, str]) -> Any:
    args = build_parser().parse_args(["batch", "job-definition", *argv])
    assert args.handler is cmd_batch_job_definition
    assert cmd_batch_job_definition(Settings.from_env(env), args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_document_is_a_valid_register_job_definition_request(
    register_shape: Any, platform: str
) -> None:
    spec = JobDefinitionSpec(platform=platform, environment={"A": "1"}, secrets=default_secrets())
    validate_parameters(job_definition_document(spec), register_shape)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("containerProperties", "cmd"), ["vodforge"]),  # misspelled key
        (("retryStrategy", "attempt"), 1),
        (("timeout", "attemptDurationSeconds"), "6h"),  # wrong type
        (("containerProperties", "logConfiguration", "driver"), "awslogs"),
        (("jobRole",), "arn:aws:iam::1:role/x"),  # belongs under containerProperties
    ],
)
def test_a_wrong_key_or_type_is_refused(
    register_shape: Any, path: tuple[str, ...], value: Any
) -> None:
    document = copy.deepcopy(job_definition_document(JobDefinitionSpec()))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ParamValidationError):
        validate_parameters(document, register_shape)


def test_cli_prints_the_contract(
    register_shape: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    env = {
        "VODFORGE_DATA_DIR": "/tmp/vodforge-unit",
        "VODFORGE_STORAGE_URL": "s3://media-bucket/vod",
        "VODFORGE_HEARTBEAT_S": "4",
        "VODFORGE_LEASE_TTL_S": "25",
    }
    document = printed(capsys, ["--image", "123.dkr.ecr.eu-west-1.amazonaws.com/vodforge:1"], env)
    validate_parameters(document, register_shape)
    container = document["containerProperties"]
    assert container["image"] == "123.dkr.ecr.eu-west-1.amazonaws.com/vodforge:1"
    assert container["command"] == ["vodforge", "run-job", "Ref::job_id"]
    assert document["retryStrategy"] == {"attempts": 1}
    assert document["type"] == "container" and document["jobDefinitionName"] == "vodforge-run-job"
    assert document["timeout"]["attemptDurationSeconds"] == 6 * 3600
    assert container["resourceRequirements"] == [
        {"type": "VCPU", "value": "2"},
        {"type": "MEMORY", "value": "4096"},
    ]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"
    assert "ACCOUNT_ID" in container["jobRoleArn"] and "ACCOUNT_ID" in container["executionRoleArn"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment == {
        "VODFORGE_STORAGE_URL": "s3://media-bucket/vod",
        "VODFORGE_REDIS_URL": "redis://REDIS_HOST:6379/0",
        "VODFORGE_HEARTBEAT_S": "4",
        "VODFORGE_LEASE_TTL_S": "25",
    }
    assert {s["name"] for s in container["secrets"]} == {
        "VODFORGE_DATABASE_URL",
        "VODFORGE_INTERNAL_TOKEN",
    }
    assert document["platformCapabilities"] == ["EC2"]


def test_secrets_are_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        "VODFORGE_DATA_DIR": "/tmp/vodforge-unit",
        "VODFORGE_DATABASE_URL": "postgresql://vod:hunter2-db@db.internal/vod",
        "VODFORGE_INTERNAL_TOKEN": "hunter2-token",
        "VODFORGE_REDIS_URL": "redis://:hunter2-redis@cache.internal:6379/0",
        "VODFORGE_PLAYBACK_SECRET": "hunter2-playback",
    }
    document = printed(capsys, ["--json"], env)
    assert "hunter2" not in json.dumps(document)
    assert document["containerProperties"]["image"].endswith("/vodforge:latest")


def test_fargate_options(register_shape: Any, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--platform", "fargate", "--vcpus", "4", "--memory", "8192", "--timeout", "3600"]
    document = printed(capsys, argv, {"VODFORGE_DATA_DIR": "/tmp/vodforge-unit"})
    validate_parameters(document, register_shape)
    container = document["containerProperties"]
    assert document["platformCapabilities"] == ["FARGATE"]
    assert container["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    assert container["ephemeralStorage"] == {"sizeInGiB": 100}
    assert container["resourceRequirements"][0] == {"type": "VCPU", "value": "4"}
    assert document["timeout"] == {"attemptDurationSeconds": 3600}


@pytest.mark.parametrize(
    "argv",
    [
        ["--vcpus", "0"],
        ["--vcpus", "two"],
        ["--memory", "100"],
        ["--name", "has space"],
        ["--name", "x" * 129],
        ["--platform", "lambda"],
        ["--timeout", "10"],
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["batch", "job-definition", *argv])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: argument --")
