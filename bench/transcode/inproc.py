"""Runs `vodforge ARGS...` in this process, exactly as the console script does, and then
writes this process's own resource usage (RUSAGE_SELF: the Python worker alone, without the
ffmpeg children it spawned and reaped) as JSON to the file named by VODFORGE_BENCH_RUSAGE.

    python bench/transcode/inproc.py transcode SRC --out DIR
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def _main() -> int:
    started = time.time()
    from vodforge.cli.main import main

    imported = time.time()
    code = main(sys.argv[1:])
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    target = os.environ.get("VODFORGE_BENCH_RUSAGE")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "started": started,
                    "imported": imported,
                    "finished": time.time(),
                    "exit_code": code,
                    "self_maxrss_kb": own.ru_maxrss,
                    "self_cpu_s": own.ru_utime + own.ru_stime,
                    "children_cpu_s": children.ru_utime + children.ru_stime,
                    "children_maxrss_kb": children.ru_maxrss,
                },
                handle,
            )
    return code


if __name__ == "__main__":
    sys.exit(_main())
