"""Printing results: JSON for scripts, short text for people, one-line errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(data: Any, *, as_json: bool, text: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text if text is not None else json.dumps(data, indent=2, default=str))


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def progress_bar(percent: float, stage: str | None, width: int = 30) -> str:
    filled = int(width * max(0.0, min(percent, 100.0)) / 100)
    return f"[{'#' * filled}{'.' * (width - filled)}] {percent:5.1f}% {stage or ''}"
