"""Executors run `run-job <id>` somewhere: in-process workers, or AWS Batch containers."""

from __future__ import annotations

from vodforge.executors.base import Executor
from vodforge.executors.local import LocalExecutor
from vodforge.executors.memory import InMemoryExecutor

__all__ = ["Executor", "InMemoryExecutor", "LocalExecutor"]
