"""`vodforge scaling`: how many workers the fleet should have now, and why (SPEC §4, §5)."""

from __future__ import annotations

import argparse

from vodforge.bootstrap import Components
from vodforge.cli.output import emit
from vodforge.operations.scaling import scaling_signal


def cmd_scaling(components: Components, args: argparse.Namespace) -> int:
    decision = scaling_signal(components.repo, components.scaling_policy)
    emit(
        decision.to_json(),
        as_json=args.json,
        text=f"desired workers {decision.desired_workers} (backlog {decision.backlog}, "
        f"running {decision.running}, busy workers {decision.busy_workers}): {decision.reason}",
    )
    return 0
