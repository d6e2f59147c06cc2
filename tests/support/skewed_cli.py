"""`python -m tests.support.skewed_cli OFFSET ARGS...`: the vodforge CLI on a machine whose wall
clock is OFFSET seconds off, for the clock-skew tests.

It shifts time.time(), the one wall clock vodforge reads, before vodforge is imported (so even
the `clock=time.time` defaults see the shifted one); monotonic time stays real, as on a machine
whose clock is merely set wrong. libfaketime was the first choice, but 0.9.10 with Python 3.11
makes every timed lock wait (threading.Event.wait(timeout)) hang, so a faked worker never
heartbeats and a faked scheduler never scans, and a skew test would pass without testing
anything; with FAKETIME_DONT_FAKE_MONOTONIC=1 time.sleep fails with EINVAL instead.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    offset_s = float(sys.argv[1])
    real_time = time.time
    time.time = lambda: real_time() + offset_s
    sys.argv = ["vodforge", *sys.argv[2:]]
    from vodforge.cli.main import main as vodforge_main

    return vodforge_main()


if __name__ == "__main__":
    sys.exit(main())
