"""What the engine reads the time from: seconds since the epoch, `time.time` in production.

Leases, heartbeats and telemetry take a `Clock` rather than calling `time.time` so tests can
move time by hand and so the job engine can follow the database server's clock
(`vodforge.db.clock`) instead of the machine's.
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]
