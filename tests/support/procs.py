"""Looks at live processes through /proc, to prove a stopped job left none behind."""

from __future__ import annotations

from pathlib import Path


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        # The command name may hold spaces or parentheses: split after the last ')'.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie no longer runs)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def live_processes_mentioning(text: str, parent: int | None = None) -> list[int]:
    """Pids of live processes whose command line contains `text` (and whose parent is
    `parent`, when given)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if fields is None or fields[0] == "Z" or text.encode() not in cmdline:
            continue
        if parent is None or int(fields[1]) == parent:
            pids.append(int(entry.name))
    return pids
