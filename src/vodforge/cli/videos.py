"""Video commands over the configured database: submit, status, list, wait, cancel, retry,
delete."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.text import Text

from vodforge.bootstrap import Components
from vodforge.cli.operator import job_runs_text
from vodforge.cli.output import emit, status_text, video_table
from vodforge.cli.progress import ProgressBar
from vodforge.domain.states import VideoStatus
from vodforge.errors import NotFound
from vodforge.operations.job_runs import job_runs
from vodforge.tenants.repository import Tenant
from vodforge.tenants.service import DEFAULT_TENANT
from vodforge.videos.views import iso

FINAL_STATUSES = {VideoStatus.READY, VideoStatus.FAILED, VideoStatus.CANCELLED}
WAIT_POLL_S = 0.5


def tenant_for_submit(components: Components, name: str) -> Tenant:
    """The tenant a local submission belongs to; the default one is created on first use."""
    if components.settings.is_embedded or name == DEFAULT_TENANT:
        return components.tenants.ensure(name)
    tenant = components.tenants.by_name(name)
    if tenant is None:
        raise NotFound(f"tenant {name!r} does not exist: `vodforge tenants create`")
    return tenant


def cmd_submit(components: Components, args: argparse.Namespace) -> int:
    tenant = tenant_for_submit(components, args.tenant)
    video = components.videos.submit_file(Path(args.file), tenant, args.title)
    data = components.videos.describe(video, tenant.name)
    emit(data, as_json=args.json, text=status_text(data))
    return 0


def cmd_status(components: Components, args: argparse.Namespace) -> int:
    data = components.videos.show(args.video_id)
    if args.events:
        data["events"] = [e.to_json() for e in components.videos.events(args.video_id)]
        data["jobs"] = job_runs(components.repo, components.executor, args.video_id)
    text = status_text(data)
    for event in data.get("events", []):
        text.append(
            f"\n  {iso(event['at'])} {event.get('kind', 'job')} {event['job_id']} "
            f"attempt {event['attempt']}: "
            f"{event['from'] or '-'} -> {event['to']}"
        )
        if event["reason"]:
            text.append(f" ({event['reason']})")
    text.append(job_runs_text(data.get("jobs", [])))
    emit(data, as_json=args.json, text=text)
    return 0


def cmd_list(components: Components, args: argparse.Namespace) -> int:
    tenant = None
    if args.tenant:
        tenant = components.tenants.by_name(args.tenant)
        if tenant is None:
            raise NotFound(f"tenant {args.tenant!r} not found")
    page = components.videos.page(tenant, limit=args.limit, cursor=args.cursor)
    emit(page.to_json(), as_json=args.json, text=_page_text(page.items, page.next_cursor))
    return 0


def _page_text(items: list[dict[str, Any]], next_cursor: str | None) -> Any:
    if not items:
        return "no videos"
    more = f"more: vodforge list --cursor {next_cursor}" if next_cursor else ""
    if sys.stdout.isatty():
        return Group(video_table(items), *([Text(more, style="dim")] if more else []))
    # Off a terminal one line per video, so grep and awk see whole rows.
    return "\n".join([*(status_text(v).plain for v in items), *([more] if more else [])])


def cmd_cancel(components: Components, args: argparse.Namespace) -> int:
    components.videos.cancel(args.video_id, actor="cli")
    return cmd_status(components, _with(args, events=False))


def cmd_retry(components: Components, args: argparse.Namespace) -> int:
    components.videos.retry(args.video_id)
    return cmd_status(components, _with(args, events=False))


def cmd_delete(components: Components, args: argparse.Namespace) -> int:
    result = components.videos.delete(args.video_id)
    text = (
        f"deleted {result['id']} ({result['objects']} objects)"
        if result["purged"]
        else f"deleted {result['id']} (its worker is stopping; objects go once it has)"
    )
    emit(result, as_json=args.json, text=text)
    return 0


def cmd_wait(components: Components, args: argparse.Namespace) -> int:
    """Exit 0 once READY; 1 when it FAILED or was CANCELLED, or --timeout passed first."""
    deadline = time.monotonic() + args.timeout if args.timeout is not None else None
    video = components.videos.get(args.video_id)
    with ProgressBar(video.title, enabled=sys.stderr.isatty() and not args.json) as bar:
        while True:
            data = components.videos.describe(video)
            bar.show(data["progress"]["percent"], data["progress"]["stage"], data["status"])
            finished = video.status in FINAL_STATUSES
            if finished or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(WAIT_POLL_S)
            video = components.videos.get(args.video_id)
    emit(data, as_json=args.json, text=status_text(data))
    return 0 if video.status is VideoStatus.READY else 1


def _with(args: argparse.Namespace, **changes: Any) -> argparse.Namespace:
    merged = vars(args).copy()
    merged.update(changes)
    return argparse.Namespace(**merged)
