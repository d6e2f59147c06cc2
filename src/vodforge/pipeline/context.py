"""What a job's work is and what it is given: a callable that takes a JobContext (the claimed
job, its stop token, a scratch directory and the parts it may use) and returns the package."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vodforge.domain.limits import InputLimits
from vodforge.errors import ConfigError
from vodforge.jobs.family import NewChild
from vodforge.jobs.records import ClaimedJob
from vodforge.jobs.repository import JobRepository
from vodforge.process import StopToken
from vodforge.storage.base import Storage
from vodforge.telemetry.base import Telemetry
from vodforge.videos.repository import VideoRepository


@dataclass(frozen=True)
class WorkDeps:
    """The parts of the system a job's work may use, built once by the bootstrap."""

    jobs: JobRepository
    videos: VideoRepository
    storage: Storage
    telemetry: Telemetry
    limits: InputLimits
    ffmpeg_path: str | None = None
    # Threads per encoder; 0 means one per core.
    ffmpeg_threads: int = 0
    # Chunked encoding (SPEC §5): sources longer than chunk_min_duration_s are encoded as
    # chunks of chunk_s seconds by separate jobs; 0 disables.
    chunk_s: float = 60.0
    chunk_min_duration_s: float = 300.0


@dataclass(frozen=True)
class WorkResult:
    """What the attempt produced. One of: a package, published when the job completes (a
    plain transcode, or a family's stitch); an output manifest a family's chunk or audio
    job records on itself; or children, to which a long video's job hands its work."""

    package: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    children: tuple[NewChild, ...] = ()

    @property
    def files(self) -> dict[str, Any] | None:
        """What names the stored files of this attempt (for the storage clean-up hooks)."""
        return self.package if self.package is not None else self.output


@dataclass
class JobContext:
    job: ClaimedJob
    stop: StopToken
    scratch_dir: Path
    deps: WorkDeps
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("vodforge.job"))


class Work(Protocol):
    def __call__(self, ctx: JobContext, /) -> WorkResult: ...


WorkFactory = Callable[[WorkDeps], Work]


def load_work(path: str) -> WorkFactory:
    """Resolve "module:callable" to a factory that builds the work from its dependencies."""
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
