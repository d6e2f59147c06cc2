"""Runs the real `vodforge` CLI with its stderr (and optionally stdout) on a pseudo-terminal,
as a person at a terminal runs it, and returns what each stream received."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class TerminalRun:
    returncode: int
    terminal: str  # everything the pseudo-terminal received, escape codes included
    stdout: str  # the piped stdout ("" when stdout was on the terminal too)

    @property
    def terminal_text(self) -> str:
        """The terminal's bytes without colour and cursor codes."""
        return ANSI.sub("", self.terminal).replace("\r", "\n")


def run_on_terminal(
    args: list[str],
    env: dict[str, str],
    *,
    stdout_on_terminal: bool = False,
    columns: int = 140,
    timeout: float = 60,
) -> TerminalRun:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vodforge", *args],
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_on_terminal else subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal has closed it
                    break
                if not chunk:
                    break
                received += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"vodforge {' '.join(args)} ran longer than {timeout} s")
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        returncode = proc.wait(timeout=10)
    finally:
        os.close(master)
        if proc.stdout:
            proc.stdout.close()
    return TerminalRun(returncode, received.decode(errors="replace"), stdout)
