"""Printing results: JSON for scripts, readable text for people (rich on a terminal), and
one-line errors on stderr."""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "READY": "green",
    "FAILED": "red",
    "CANCELLED": "yellow",
    "PROCESSING": "cyan",
    "UPLOADED": "blue",
    "PENDING_UPLOAD": "dim",
}


@cache
def stdout_console() -> Console:
    # highlight=False: rich would colour numbers and ids inside titles at random.
    return Console(highlight=False, soft_wrap=True)


@cache
def stderr_console() -> Console:
    """The one console for stderr: log lines and progress bars share it, so rich keeps the
    bars below the log lines instead of tearing them."""
    return Console(stderr=True, highlight=False)


def emit(data: Any, *, as_json: bool, text: str | RenderableType) -> None:
    """`data` as JSON with --json, else `text`: plain strings print as they are (a pipe gets
    exactly these bytes), rich renderables go through the console (colours on a terminal)."""
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(text, str):
        print(text)
    else:
        stdout_console().print(text)


def emit_line(data: dict[str, Any], *, as_json: bool, text: str) -> None:
    """For commands that keep running after they print: JSON on ONE line, flushed at once, so
    a reader of the still-open stdout knows where the document ends."""
    print(json.dumps(data, default=str) if as_json else text, flush=True)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def status_text(data: dict[str, Any]) -> Text:
    """One video on one line: id, status, percent, title, and the error when it failed."""
    line = Text(f"{data['id']} ")
    line.append(data["status"], style=STATUS_STYLES.get(data["status"], ""))
    line.append(f" {data['progress']['percent'] or 0:.0f}% {data['title']}")
    if data["error"]:
        line.append(f" [{data['error']['code']}: {data['error']['message']}]", style="red")
    return line


def video_table(items: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    if not items:
        return table
    # Ids and times are copied and compared whole; titles and errors give way when narrow.
    table.add_column("id", no_wrap=True, style="dim", min_width=36)
    table.add_column("status", no_wrap=True, min_width=10)
    table.add_column("progress", justify="right", no_wrap=True, min_width=8)
    table.add_column("title", no_wrap=True, overflow="ellipsis")
    tenant_width = min(20, max(len(str(video["tenant"])) for video in items))
    table.add_column("tenant", no_wrap=True, overflow="ellipsis", min_width=max(6, tenant_width))
    table.add_column("created (UTC)", no_wrap=True, min_width=19)
    errors = any(video["error"] for video in items)
    if errors:
        table.add_column("error", overflow="ellipsis", no_wrap=True, style="red")
    for video in items:
        status = video["status"]
        progress = video["progress"]
        stage = f" {progress['stage']}" if status == "PROCESSING" and progress["stage"] else ""
        # 2026-11-22T18:41:29.282484Z -> 2026-11-22 18:41:29: a person needs no microseconds.
        created = str(video["created_at"] or "")[:19].replace("T", " ")
        row = [
            video["id"],
            Text(status, style=STATUS_STYLES.get(status, "")),
            f"{progress['percent'] or 0:.0f}%{stage}",
            video["title"],
            video["tenant"],
            created,
        ]
        if errors:
            error = video["error"]
            row.append(f"{error['code']}: {error['message']}" if error else "")
        table.add_row(*row)
    return table
