"""Operator commands over the configured database: tenants, submit, status, list, cancel, ..."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from vodforge.bootstrap import Components
from vodforge.cli.output import emit, progress_bar
from vodforge.domain.states import VideoStatus
from vodforge.errors import NotFound
from vodforge.operations.deadletter import report_dead_letter
from vodforge.tenants.repository import Tenant
from vodforge.tenants.service import DEFAULT_TENANT

FINAL_STATUSES = {VideoStatus.READY, VideoStatus.FAILED, VideoStatus.CANCELLED}


def tenant_for_submit(components: Components, name: str) -> Tenant:
    """The tenant a local submission belongs to; the default one is created on first use."""
    if components.settings.is_embedded or name == DEFAULT_TENANT:
        return components.tenants.ensure(name)
    tenant = components.tenants.by_name(name)
    if tenant is None:
        raise NotFound(f"tenant {name!r} does not exist: `vodforge tenants create`")
    return tenant


def cmd_tenants_create(components: Components, args: argparse.Namespace) -> int:
    tenant, api_key = components.tenants.create(args.name)
    emit(
        {"tenant": tenant.name, "api_key": api_key},
        as_json=args.json,
        text=f"tenant {tenant.name} created\napi key (shown once): {api_key}",
    )
    return 0


def cmd_tenants_rotate_key(components: Components, args: argparse.Namespace) -> int:
    tenant, api_key = components.tenants.rotate_key(args.name)
    emit(
        {"tenant": tenant.name, "api_key": api_key},
        as_json=args.json,
        text=f"tenant {tenant.name}: new api key (shown once): {api_key}",
    )
    return 0


def cmd_submit(components: Components, args: argparse.Namespace) -> int:
    tenant = tenant_for_submit(components, args.tenant)
    video = components.videos.submit_file(Path(args.file), tenant, args.title)
    data = components.videos.describe(video, tenant.name)
    emit(data, as_json=args.json, text=f"{video.id} {video.status.value}")
    return 0


def cmd_status(components: Components, args: argparse.Namespace) -> int:
    data = components.videos.show(args.video_id)
    if args.events:
        data["events"] = [e.to_json() for e in components.videos.events(args.video_id)]
    emit(data, as_json=args.json, text=status_line(data))
    return 0


def status_line(data: dict[str, Any]) -> str:
    line = f"{data['id']} {data['status']} {data['progress']['percent']:.0f}% {data['title']}"
    if data["error"]:
        line += f" [{data['error']['code']}: {data['error']['message']}]"
    return line


def cmd_list(components: Components, args: argparse.Namespace) -> int:
    tenant = None
    if args.tenant:
        tenant = components.tenants.by_name(args.tenant)
        if tenant is None:
            raise NotFound(f"tenant {args.tenant!r} not found")
    page = components.videos.page(tenant, limit=args.limit, cursor=args.cursor)
    emit(
        page.to_json(),
        as_json=args.json,
        text="\n".join(status_line(v) for v in page.items) or "no videos",
    )
    return 0


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
    deadline = time.monotonic() + args.timeout if args.timeout else None
    tty = sys.stderr.isatty()
    while True:
        video = components.videos.get(args.video_id)
        data = components.videos.describe(video)
        if tty:
            bar = progress_bar(data["progress"]["percent"] or 0, data["progress"]["stage"])
            print(f"\r{bar} {data['status']:<10}", end="", file=sys.stderr, flush=True)
        if video.status in FINAL_STATUSES:
            if tty:
                print(file=sys.stderr)
            emit(data, as_json=args.json, text=status_line(data))
            return 0 if video.status is VideoStatus.READY else 1
        if deadline is not None and time.monotonic() > deadline:
            emit(data, as_json=args.json, text=status_line(data))
            return 1
        time.sleep(0.5)


def cmd_backlog(components: Components, args: argparse.Namespace) -> int:
    data = components.repo.backlog().to_json()
    emit(data, as_json=args.json, text=" ".join(f"{k}={v}" for k, v in data.items()))
    return 0


def cmd_dead_letter(components: Components, args: argparse.Namespace) -> int:
    result = report_dead_letter(components.repo, args.job_id, actor="cli")
    emit(result, as_json=args.json, text=" ".join(f"{k}={v}" for k, v in result.items()))
    return 0


def _with(args: argparse.Namespace, **changes: Any) -> argparse.Namespace:
    merged = vars(args).copy()
    merged.update(changes)
    return argparse.Namespace(**merged)
