"""What an upload may be before the probe rejects it (SPEC §5 input limits)."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class InputLimits:
    max_file_bytes: int = 20 * GIB
    max_duration_s: float = 6 * 3600.0
    max_width: int = 7680
    max_height: int = 4320
    max_fps: float = 120.0
    probe_timeout_s: float = 30.0

    @property
    def max_pixels(self) -> int:
        return self.max_width * self.max_height
