"""The Dockerfile keeps the container contract (no engine here builds it, so the text is
checked): Debian's ffmpeg, vodforge installed with pip, a non-root user, and a CMD that the
Batch job definition's command can replace."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from vodforge.executors.batch_definition import JobDefinitionSpec, job_definition_document

ROOT = Path(__file__).resolve().parents[3]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(r"\\\n\s*", " ", text)  # join continuation lines
    found = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_dockerfile_keeps_the_contract() -> None:
    steps = instructions()
    keywords = [keyword for keyword, _ in steps]
    assert steps[0][0] == "FROM" and re.fullmatch(r"debian:\w+-slim", steps[0][1])
    runs = " ".join(rest for keyword, rest in steps if keyword == "RUN")
    assert re.search(r"apt-get install .*\bffmpeg\b", runs)
    assert "pip install /build" in runs
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    # Batch replaces CMD with the job definition's command; an ENTRYPOINT would prefix it.
    assert "ENTRYPOINT" not in keywords
    cmd = json.loads(next(rest for keyword, rest in steps if keyword == "CMD"))
    assert cmd == ["vodforge", "run-job"]
    command = job_definition_document(JobDefinitionSpec())["containerProperties"]["command"]
    assert command[:2] == cmd
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["vodforge"] == "vodforge.cli.main:main"


def test_dockerignore_sends_only_the_package() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {line for line in lines if line.startswith("!")} == {
        "!pyproject.toml",
        "!README.md",
        "!src/",
    }
