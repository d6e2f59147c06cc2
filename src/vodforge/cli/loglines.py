"""How log lines look: JSON lines for machines (the default off a terminal) or coloured
`EVENT key=value` lines for a person at a terminal (`--log-format`)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from rich.console import ConsoleRenderable
from rich.logging import RichHandler
from rich.text import Text

from vodforge.cli.output import stderr_console
from vodforge.logs import StderrHandler, json_handler

LOG_FORMATS = ("auto", "json", "text")


class EventTextFormatter(logging.Formatter):
    """`JOB_CLAIMED job_id=... attempt=1`: the same fields as the JSON line, readable. With
    `stamped`, each line starts with the time and level (rich draws those itself)."""

    def __init__(self, *, stamped: bool = False) -> None:
        super().__init__()
        self.stamped = stamped

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields:
            rest = " ".join(f"{key}={value}" for key, value in fields.items() if key != "event")
            line = f"{fields.get('event', '')} {rest}".rstrip()
        else:
            line = record.getMessage()
        if self.stamped:
            line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {line}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class EventLogHandler(RichHandler):
    def render_message(self, record: logging.LogRecord, message: str) -> ConsoleRenderable:
        text = super().render_message(record, message)
        if isinstance(text, Text) and getattr(record, "fields", None):
            # The event name is what an operator scans for.
            text.stylize("bold", 0, len(message.split(" ", 1)[0]))
        return text


def text_handler() -> logging.Handler:
    if not sys.stderr.isatty():
        # Forced text into a file or pipe: no colours, no padding to a terminal's width.
        plain = StderrHandler()
        plain.setFormatter(EventTextFormatter(stamped=True))
        return plain
    handler = EventLogHandler(
        console=stderr_console(),
        show_path=False,
        log_time_format="%H:%M:%S",
        omit_repeated_times=False,
    )
    handler.setFormatter(EventTextFormatter())
    return handler


def log_handler(log_format: str) -> logging.Handler:
    """`auto` is text when stderr is a terminal, else JSON: log collectors and the tests
    parse the JSON lines."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    return text_handler() if log_format == "text" else json_handler()
