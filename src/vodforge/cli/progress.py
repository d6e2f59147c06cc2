"""A video's progress as a bar on stderr while a command waits for it (`wait`, `transcode`)."""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from vodforge.cli.output import stderr_console


class ProgressBar:
    """Draws only when `enabled` (the caller decides: stderr is a terminal and no --json), so
    a pipe or a log file never receives cursor movements."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[stage]}"),
            TimeElapsedColumn(),
            console=stderr_console(),
            disable=not enabled,
            # Results go to stdout after the bar stops; only stray stderr writes (JSON log
            # lines) need to be drawn above the bar.
            redirect_stdout=False,
        )
        self._task: TaskID = self._progress.add_task(label, total=100, stage="")

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def show(self, percent: float | None, stage: str | None, status: str | None = None) -> None:
        words = [w for w in (status, stage) if w]
        self._progress.update(
            self._task,
            completed=max(0.0, min(float(percent or 0.0), 100.0)),
            stage=" ".join(words),
        )
