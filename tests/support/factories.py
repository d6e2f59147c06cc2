"""Builds tenants, videos and jobs through the repositories, as the product does."""

from __future__ import annotations

from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import Tenant, TenantRepository
from vodforge.tenants.service import TenantService


def ensure_tenant(repo: JobRepository, tenant_name: str) -> Tenant:
    """The tenant called `tenant_name` on the repository's database, created when missing."""
    return TenantService(TenantRepository(repo.engine, clock=repo.clock)).ensure(tenant_name)


def queue_jobs(repo: JobRepository, tenant_name: str, count: int) -> list[str]:
    """`count` uploaded videos for one tenant, each with its QUEUED job; returns job ids."""
    tenant = ensure_tenant(repo, tenant_name)
    job_ids = []
    for n in range(count):
        _, job_id = repo.create_video_and_job(
            tenant.id, f"{tenant_name} video {n}", source_key=f"sources/{n}.mp4", source_bytes=1
        )
        job_ids.append(job_id)
    return job_ids
