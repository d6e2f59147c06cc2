"""What a job's work is: a callable given a JobContext that returns the package to publish."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vodforge.errors import ConfigError
from vodforge.jobs.records import ClaimedJob
from vodforge.process import StopToken

if TYPE_CHECKING:
    from vodforge.services import Services


@dataclass(frozen=True)
class WorkResult:
    """The package the attempt produced; published when the job completes."""

    package: dict[str, Any]


@dataclass
class JobContext:
    job: ClaimedJob
    stop: StopToken
    scratch_dir: Path
    services: Services
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("vodforge.job"))


class Work(Protocol):
    def __call__(self, ctx: JobContext, /) -> WorkResult: ...


WorkFactory = Callable[["Services"], Work]


def load_work(path: str) -> WorkFactory:
    """Resolve "module:callable" to a factory that builds the work from the services."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"VODFORGE_WORK must look like 'module:callable', got {path!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load the job work {path!r}: {exc}") from exc
    if not callable(factory):
        raise ConfigError(f"{path!r} is not callable")
    return factory  # type: ignore[no-any-return]
