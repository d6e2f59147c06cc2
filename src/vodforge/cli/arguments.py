"""Argument types that check values as the API checks request bodies, and a parser whose
usage errors are one line on stderr (exit 2) instead of a usage block."""

from __future__ import annotations

import argparse
import math
import uuid
from collections.abc import Callable
from typing import NoReturn

from vodforge.errors import InvalidRequest
from vodforge.tenants.service import check_tenant_name
from vodforge.videos.service import check_title, decode_cursor

# The API's page size bounds (GET /v1/videos?limit=).
MAX_PAGE = 100
# More slots than this in one process is a typo, not a plan: run more processes instead.
MAX_SLOTS = 256
MAX_CURSOR = 200


class CliParser(argparse.ArgumentParser):
    """argparse, with usage errors printed as `error: ...` on one line, like domain errors."""

    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block; scripts and people read one line faster.
        # The command's own --help still shows every option.
        line = " ".join(message.split())
        self.exit(2, f"error: {line} (see `{self.prog} --help`)\n")


def int_between(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < low or (high is not None and number > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{number} is out of range: {bounds}")
        return number

    parse.__name__ = "number"  # argparse names the type in its fallback message
    return parse


def seconds_up_to(high: float) -> Callable[[str], float]:
    """A duration in seconds, more than 0 and at most `high` (no nan or inf)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
        if not math.isfinite(number) or number <= 0 or number > high:
            raise argparse.ArgumentTypeError(
                f"{value} is out of range: more than 0, at most {high:g}"
            )
        return number

    parse.__name__ = "seconds"
    return parse


positive_slots = int_between(1, MAX_SLOTS)
page_limit = int_between(1, MAX_PAGE)
port = int_between(1, 65535)


def an_id(kind: str) -> Callable[[str], str]:
    """A video or job id: a UUID, returned in the canonical form the database stores."""

    def parse(value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value[:80]!r} is not a {kind} id (a UUID such as {uuid.UUID(int=0)})"
            ) from None

    parse.__name__ = f"{kind} id"
    return parse


def _from_domain(check: Callable[[str], str], name: str) -> Callable[[str], str]:
    """The service's own check, so the CLI and the API refuse the same values."""

    def parse(value: str) -> str:
        try:
            return check(value)
        except InvalidRequest as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    parse.__name__ = name
    return parse


tenant_name = _from_domain(check_tenant_name, "tenant name")
title = _from_domain(check_title, "title")


def cursor(value: str) -> str:
    if len(value) > MAX_CURSOR:
        raise argparse.ArgumentTypeError(f"a cursor is at most {MAX_CURSOR} characters")
    try:
        decode_cursor(value)
    except InvalidRequest as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return value


def log_level(value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise argparse.ArgumentTypeError(f"{value!r} is not one of debug, info, warning, error")
    return level
