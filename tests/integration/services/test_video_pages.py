"""Listing videos a page at a time through VideoService.page, and a waiting job's place in
the queue, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import FakeClock
from vodforge.errors import InvalidRequest
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import Tenant
from vodforge.tenants.service import TenantService
from vodforge.videos.repository import VideoRepository
from vodforge.videos.service import MAX_PAGE, VideoService


def upload(repo: JobRepository, tenant: Tenant, title: str, priority: int = 0) -> tuple[str, str]:
    """A video UPLOADED with its QUEUED job, as a submission makes it; (video id, job id)."""
    return repo.create_video_and_job(
        tenant.id, title, source_key=f"sources/{title}.mp4", source_bytes=1, priority=priority
    )


def all_pages(
    service: VideoService, tenant: Tenant | None, limit: int, cursor: str | None = None
) -> list[list[str]]:
    """The ids on every page from `cursor` (the start by default) to the last."""
    pages: list[list[str]] = []
    while True:
        page = service.page(tenant, limit=limit, cursor=cursor)
        pages.append([item["id"] for item in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) <= 100, "the cursor never ran out"


def test_pages_cover_every_video_once_newest_first_even_with_equal_times(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    tenant: Tenant,
    clock: FakeClock,
) -> None:
    # Runs of videos created in the same instant: the page boundaries fall inside them.
    created = []
    for burst in (4, 1, 5, 3):
        for n in range(burst):
            created.append(upload(repo, tenant, f"t{clock.now}-{n}")[0])
        clock.advance(1)
    newest_first = [v.id for v in videos.list_videos(tenant.id, limit=1000)]
    assert sorted(newest_first) == sorted(created)

    for limit in (1, 2, 3, 4, 5, 13, 50):
        pages = all_pages(video_service, tenant, limit)
        flat = [video_id for page in pages for video_id in page]
        assert flat == newest_first, f"limit {limit}"
        assert all(len(page) == limit for page in pages[:-1])
        assert 1 <= len(pages[-1]) <= limit


def test_page_items_are_the_video_json_and_stay_in_their_tenant(
    repo: JobRepository,
    video_service: VideoService,
    tenant_service: TenantService,
    tenant: Tenant,
) -> None:
    other = tenant_service.ensure("other")
    mine = [upload(repo, tenant, f"mine-{n}")[0] for n in range(3)]
    theirs = [upload(repo, other, f"theirs-{n}")[0] for n in range(2)]

    page = video_service.page(tenant, limit=10)
    assert sorted(item["id"] for item in page.items) == sorted(mine)
    assert {item["tenant"] for item in page.items} == {"acme"}
    assert {item["status"] for item in page.items} == {"UPLOADED"}
    assert page.next_cursor is None
    assert page.to_json() == {"items": page.items, "next_cursor": None}

    # Without a tenant (the operator's CLI) the pages hold every tenant's videos.
    everyone = [v for page in all_pages(video_service, None, 2) for v in page]
    assert sorted(everyone) == sorted(mine + theirs)


def test_a_page_without_videos_is_empty(video_service: VideoService, tenant: Tenant) -> None:
    page = video_service.page(tenant)
    assert page.items == [] and page.next_cursor is None


def test_deleted_videos_leave_no_gap_in_the_pages(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    tenant: Tenant,
) -> None:
    ids = [upload(repo, tenant, f"v{n}")[0] for n in range(6)]
    first = video_service.page(tenant, limit=2)
    # The last video of the first page goes away before the next page is read.
    video_service.delete(first.items[-1]["id"], tenant)
    assert first.next_cursor is not None
    rest = all_pages(video_service, tenant, 2, first.next_cursor)
    shown = [item["id"] for item in first.items] + [v for page in rest for v in page]
    assert sorted(shown) == sorted(ids)
    assert [v.id for v in videos.list_videos(tenant.id)] == [
        video_id for video_id in shown if video_id != first.items[-1]["id"]
    ]


def forged_cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        "e30",  # {}
        forged_cursor([1.0]),
        forged_cursor([1.0, "not-a-uuid"]),
        forged_cursor(["yesterday", "00000000-0000-0000-0000-000000000000"]),
        forged_cursor({"created_at": 1.0, "id": "00000000-0000-0000-0000-000000000000"}),
        forged_cursor(7),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    ],
)
def test_a_cursor_this_api_never_returned_is_invalid(
    video_service: VideoService, tenant: Tenant, cursor: str
) -> None:
    with pytest.raises(InvalidRequest):
        video_service.page(tenant, cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1, 10_000])
def test_a_limit_out_of_range_is_invalid(
    video_service: VideoService, tenant: Tenant, limit: int
) -> None:
    with pytest.raises(InvalidRequest):
        video_service.page(tenant, limit=limit)


@pytest.mark.parametrize("limit", [1, MAX_PAGE])
def test_the_limits_of_the_range_are_valid(
    repo: JobRepository, video_service: VideoService, tenant: Tenant, limit: int
) -> None:
    upload(repo, tenant, "only")
    assert len(video_service.page(tenant, limit=limit).items) == 1


def test_queue_position_follows_the_claim_order(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    tenant: Tenant,
    clock: FakeClock,
) -> None:
    jobs = []
    for title, priority, step in [
        ("a", 0, 0),
        ("b", 0, 0),
        ("c", -5, 1),
        ("d", 0, 0),
        ("e", 0, 1),
        ("f", -5, 0),
    ]:
        clock.advance(step)
        jobs.append(upload(repo, tenant, title, priority))
    job_ids = [job_id for _, job_id in jobs]

    # Every waiting job has a distinct place, and the places are the order claims take them.
    positions = {job_id: videos.queue_position(job_id) for job_id in job_ids}
    assert sorted(positions.values()) == list(range(1, len(job_ids) + 1))
    by_position = sorted(job_ids, key=lambda job_id: positions[job_id] or 0)
    for expected_first in by_position:
        claimed = repo.claim_job("w")
        assert claimed is not None and claimed.id == expected_first
        assert videos.queue_position(claimed.id) is None, "a running job is not waiting"
        # Everyone behind moved up by one.
        waiting = by_position[by_position.index(expected_first) + 1 :]
        assert [videos.queue_position(job_id) for job_id in waiting] == list(
            range(1, len(waiting) + 1)
        )

    # The video JSON shows the place while the job waits, and not once it runs.
    video_id, job_id = upload(repo, tenant, "late")
    assert video_service.show(video_id, tenant)["queue_position"] == 1
    assert repo.claim_job("w") is not None
    assert "queue_position" not in video_service.show(video_id, tenant)
    assert videos.queue_position("00000000-0000-0000-0000-000000000000") is None
    assert videos.queue_position(job_id) is None
