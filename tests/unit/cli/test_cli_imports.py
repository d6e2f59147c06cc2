"""What a one-off command (`vodforge transcode`) pays besides its work: commands that serve
no HTTP do not import the HTTP stack (about half of the start-up), nor the HTTP client until
a webhook is sent, and the exit skips the final garbage collection of the heap."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The server side, and the client the webhook deliverer builds only when it first sends.
HTTP_STACK = ("fastapi", "starlette", "uvicorn", "vodforge.api.app", "vodforge.cli.serve", "httpx")

PROBE = """
import sys
import vodforge.cli.main
from vodforge.cli.parser import build_parser
args = build_parser().parse_args(sys.argv[1:])
loaded = [name for name in {stack!r} if name in sys.modules]
print(",".join(loaded))
"""


def loaded_after_parsing(*argv: str) -> list[str]:
    code = PROBE.format(stack=HTTP_STACK)
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    return [name for name in done.stdout.strip().split(",") if name]


def test_transcode_parses_without_the_http_stack() -> None:
    assert loaded_after_parsing("transcode", "clip.mp4", "--out", "out") == []


@pytest.mark.parametrize(("command", "handler"), [("up", "cmd_up"), ("api", "cmd_api")])
def test_serving_commands_reach_their_handlers(
    command: str, handler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vodforge.cli import serve
    from vodforge.cli.parser import build_parser

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(serve, handler, lambda *args: calls.append(args) or 7)
    args = build_parser().parse_args([command])
    assert args.handler("components", args) == 7
    assert calls == [("components", args)]


EXIT_PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("at exit", gc.get_freeze_count() > 0))
from vodforge.cli.main import main
try:
    main(["--version"])
except SystemExit:
    pass
print("after main", gc.get_freeze_count() > 0)
"""


def test_the_heap_is_frozen_at_exit_and_not_before() -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-2:] == ["after main False", "at exit True"]
