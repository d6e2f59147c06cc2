"""Builds tenants, videos and jobs through the repository, as the product does."""

from __future__ import annotations

from vodforge.jobs.repository import JobRepository


def queue_jobs(repo: JobRepository, tenant_name: str, count: int) -> list[str]:
    """`count` uploaded videos for one tenant, each with its QUEUED job; returns job ids."""
    tenant = repo.ensure_tenant(tenant_name)
    job_ids = []
    for n in range(count):
        _, job_id = repo.create_video_and_job(
            tenant.id, f"{tenant_name} video {n}", source_key=f"sources/{n}.mp4", source_bytes=1
        )
        job_ids.append(job_id)
    return job_ids
