"""Operator commands over the configured database: tenants, submit, status, list, cancel, ..."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from vodforge.cli.output import emit, progress_bar
from vodforge.domain.states import VideoStatus
from vodforge.errors import Conflict, InputRejected, NotFound
from vodforge.jobs.records import VideoRecord
from vodforge.scheduler import dispatch_job
from vodforge.services import Services
from vodforge.storage.base import source_key, video_prefix
from vodforge.views import video_json

DEFAULT_TENANT = "default"
FINAL_STATUSES = {VideoStatus.READY, VideoStatus.FAILED, VideoStatus.CANCELLED}


def describe_video(services: Services, video: VideoRecord) -> dict[str, Any]:
    repo = services.repo
    job = repo.find_job(video.current_job_id) if video.current_job_id else None
    tenant_name = repo.tenant_name(video.tenant_id)
    progress = services.telemetry.read_progress(video.tenant_id, video.id)
    package = video.package or {}
    playback = thumbnail = None
    if video.status is VideoStatus.READY and package:
        playback = _object_url(services, package["master"])
        thumbnail = _object_url(services, package.get("thumbnail"))
    return video_json(
        video,
        tenant_name=tenant_name,
        job=job,
        progress=progress,
        playback_url=playback,
        thumbnail_url=thumbnail,
    )


def _object_url(services: Services, key: str | None) -> str | None:
    if not key:
        return None
    local = services.storage.local_path(key)
    if local is not None:
        return local.as_uri()
    return services.storage.presigned_url(key, 3600)


def submit_file(services: Services, path: Path, tenant_name: str, title: str | None) -> VideoRecord:
    """Store the source, create the video and its job, and dispatch it."""
    if not path.is_file():
        raise InputRejected(f"{path} is not a readable file")
    tenant = (
        services.repo.ensure_tenant(tenant_name)
        if services.settings.is_embedded or tenant_name == DEFAULT_TENANT
        else services.repo.get_tenant(tenant_name)
    )
    if tenant is None:
        raise NotFound(f"tenant {tenant_name!r} does not exist: `vodforge tenants create`")
    video_id = str(uuid.uuid4())
    key = source_key(video_id, path.suffix.lower().lstrip(".") or "bin")
    services.storage.put_file(key, path)
    _, job_id = services.repo.create_video_and_job(
        tenant.id,
        title or path.name,
        source_key=key,
        source_bytes=path.stat().st_size,
        video_id=video_id,
    )
    dispatch_job(services.repo, services.executor, job_id)
    return services.repo.get_video(video_id)


def cmd_tenants_create(services: Services, args: argparse.Namespace) -> int:
    tenant, api_key = services.repo.create_tenant(args.name)
    emit(
        {"tenant": tenant.name, "api_key": api_key},
        as_json=args.json,
        text=f"tenant {tenant.name} created\napi key (shown once): {api_key}",
    )
    return 0


def cmd_submit(services: Services, args: argparse.Namespace) -> int:
    video = submit_file(services, Path(args.file), args.tenant, args.title)
    data = describe_video(services, video)
    emit(data, as_json=args.json, text=f"{video.id} {video.status.value}")
    return 0


def cmd_status(services: Services, args: argparse.Namespace) -> int:
    data = describe_video(services, services.repo.get_video(args.video_id))
    if args.events:
        data["events"] = [e.to_json() for e in services.repo.video_events(args.video_id)]
    emit(data, as_json=args.json, text=_status_line(data))
    return 0


def _status_line(data: dict[str, Any]) -> str:
    line = f"{data['id']} {data['status']} {data['progress']['percent']:.0f}% {data['title']}"
    if data["error"]:
        line += f" [{data['error']['code']}: {data['error']['message']}]"
    return line


def cmd_list(services: Services, args: argparse.Namespace) -> int:
    tenant_id = None
    if args.tenant:
        tenant = services.repo.get_tenant(args.tenant)
        if tenant is None:
            raise NotFound(f"tenant {args.tenant!r} not found")
        tenant_id = tenant.id
    videos = [describe_video(services, v) for v in services.repo.list_videos(tenant_id, args.limit)]
    emit(videos, as_json=args.json, text="\n".join(_status_line(v) for v in videos) or "no videos")
    return 0


def cmd_cancel(services: Services, args: argparse.Namespace) -> int:
    services.repo.cancel_video(args.video_id, actor="cli")
    return cmd_status(services, _with(args, events=False))


def cmd_retry(services: Services, args: argparse.Namespace) -> int:
    job_id = services.repo.retry_video(args.video_id)
    dispatch_job(services.repo, services.executor, job_id)
    return cmd_status(services, _with(args, events=False))


def cmd_delete(services: Services, args: argparse.Namespace) -> int:
    video = services.repo.get_video(args.video_id)
    job = services.repo.find_job(video.current_job_id) if video.current_job_id else None
    if job is not None and not job.state.is_terminal:
        services.repo.cancel_video(video.id, actor="delete")
        job = services.repo.get_job(job.id)
        if not job.state.is_terminal:
            raise Conflict(
                f"video {video.id} is being processed; cancel requested — delete again once its "
                "worker has stopped"
            )
    removed = services.storage.delete_prefix(video_prefix(video.id))
    services.repo.delete_video(video.id)
    emit(
        {"ok": True, "id": video.id, "objects_deleted": removed},
        as_json=args.json,
        text=f"deleted {video.id} ({removed} objects)",
    )
    return 0


def cmd_wait(services: Services, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout else None
    tty = sys.stderr.isatty()
    while True:
        video = services.repo.get_video(args.video_id)
        data = describe_video(services, video)
        if tty:
            bar = progress_bar(data["progress"]["percent"] or 0, data["progress"]["stage"])
            print(f"\r{bar} {data['status']:<10}", end="", file=sys.stderr, flush=True)
        if video.status in FINAL_STATUSES:
            if tty:
                print(file=sys.stderr)
            emit(data, as_json=args.json, text=_status_line(data))
            return 0 if video.status is VideoStatus.READY else 1
        if deadline is not None and time.monotonic() > deadline:
            emit(data, as_json=args.json, text=_status_line(data))
            return 1
        time.sleep(0.5)


def cmd_backlog(services: Services, args: argparse.Namespace) -> int:
    data = services.repo.backlog().to_json()
    emit(data, as_json=args.json, text=" ".join(f"{k}={v}" for k, v in data.items()))
    return 0


def cmd_dead_letter(services: Services, args: argparse.Namespace) -> int:
    emit(services.repo.dead_letter(args.job_id, actor="cli"), as_json=True)
    return 0


def _with(args: argparse.Namespace, **changes: Any) -> argparse.Namespace:
    merged = vars(args).copy()
    merged.update(changes)
    return argparse.Namespace(**merged)
