"""The dashboard's live list (videos/live.py) on SQLite and PostgreSQL: a snapshot, then only
what changed; finished videos are described once, not at every poll; a video pushed off the
page or deleted is reported removed."""

from __future__ import annotations

from typing import Any

from tests.conftest import FakeClock
from vodforge.jobs.records import VideoRecord
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import Tenant
from vodforge.videos.live import LiveList
from vodforge.videos.service import VideoService


class CountingService(VideoService):
    """The real service, counting which videos it describes."""

    described: list[str]

    def describe(self, video: VideoRecord, tenant_name: str | None = None) -> dict[str, Any]:
        self.described.append(video.id)
        return super().describe(video, tenant_name)


def counting(service: VideoService) -> CountingService:
    service.__class__ = CountingService
    assert isinstance(service, CountingService)
    service.described = []
    return service


def upload(repo: JobRepository, tenant: Tenant, title: str) -> str:
    video_id, _ = repo.create_video_and_job(
        tenant.id, title, source_key=f"sources/{title}.mp4", source_bytes=1
    )
    return video_id


def test_a_poll_reports_only_changes_and_describes_only_moving_videos(
    video_service: VideoService, repo: JobRepository, tenant: Tenant, clock: FakeClock
) -> None:
    service = counting(video_service)
    done = upload(repo, tenant, "done")
    job = repo.claim_job("w")
    assert job is not None
    repo.complete_job(job, {"prefix": "p/", "master": "p/master.m3u8", "renditions": []})
    clock.advance(1)
    waiting = upload(repo, tenant, "waiting")

    live = LiveList(service, tenant)
    assert [video["id"] for video in live.snapshot()] == [waiting, done]

    service.described.clear()
    assert not live.poll()
    # The READY video is not described again; the waiting one is (its queue position moves).
    assert service.described == [waiting]

    service.telemetry.record_progress(tenant.id, waiting, {"stage": "probe", "percent": 5.0})
    changes = live.poll()
    assert [video["id"] for video in changes.upserted] == [waiting]
    assert changes.upserted[0]["progress"]["stage"] == "probe"
    assert not live.poll()


def test_videos_leaving_the_page_are_removed(
    video_service: VideoService, repo: JobRepository, tenant: Tenant, clock: FakeClock
) -> None:
    first = upload(repo, tenant, "first")
    clock.advance(1)
    second = upload(repo, tenant, "second")
    live = LiveList(video_service, tenant, limit=2)
    assert len(live.snapshot()) == 2

    clock.advance(1)
    third = upload(repo, tenant, "third")  # pushes `first` off a two-video page
    changes = live.poll()
    assert [video["id"] for video in changes.upserted] == [third]
    assert changes.removed == [first]

    video_service.delete(second)
    assert live.poll().removed == [second]
