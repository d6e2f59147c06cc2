"""The tenants table: create, look up by name or by key hash, rotate keys, webhook endpoints."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from vodforge.db.access import reading, writing
from vodforge.db.tables import tenants
from vodforge.errors import Conflict, NotFound


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    webhook_url: str | None = None


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where a tenant's webhooks go and the secret that signs them. The secret is stored as
    it is: signing needs it in the clear (a hash would not do), and see the README."""

    url: str
    secret: str = field(repr=False)
    tenant_name: str = ""


@dataclass(frozen=True)
class TenantCredentials:
    tenant: Tenant
    api_key_hash: str


class TenantRepository:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def insert(
        self, name: str, api_key_hash: str, webhook: WebhookEndpoint | None = None
    ) -> Tenant:
        webhook_url = webhook.url if webhook else None
        tenant = Tenant(id=str(uuid.uuid4()), name=name, webhook_url=webhook_url)
        try:
            with writing(self.engine) as conn:
                if conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first():
                    raise Conflict(f"tenant {name!r} already exists")
                conn.execute(
                    insert(tenants).values(
                        id=tenant.id,
                        name=name,
                        api_key_hash=api_key_hash,
                        webhook_url=webhook_url,
                        webhook_secret=webhook.secret if webhook else None,
                        created_at=self.clock(),
                    )
                )
        except IntegrityError as exc:
            # Two creators raced past the check: the unique index decides.
            raise Conflict(f"tenant {name!r} already exists") from exc
        return tenant

    def by_name(self, name: str) -> Tenant | None:
        with reading(self.engine) as conn:
            row = conn.execute(select(tenants).where(tenants.c.name == name)).mappings().first()
        return _tenant(row) if row else None

    def by_id(self, tenant_id: str) -> Tenant | None:
        with reading(self.engine) as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
        return _tenant(row) if row else None

    def credentials_for_hash(self, api_key_hash: str) -> TenantCredentials | None:
        with reading(self.engine) as conn:
            row = (
                conn.execute(select(tenants).where(tenants.c.api_key_hash == api_key_hash))
                .mappings()
                .first()
            )
        return TenantCredentials(_tenant(row), row["api_key_hash"]) if row else None

    def names(self, tenant_ids: set[str]) -> dict[str, str]:
        if not tenant_ids:
            return {}
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(tenants.c.id, tenants.c.name).where(tenants.c.id.in_(tenant_ids))
            )
            return {row.id: row.name for row in rows}

    def set_key_hash(self, name: str, api_key_hash: str) -> Tenant:
        with writing(self.engine) as conn:
            row = (
                conn.execute(
                    update(tenants)
                    .where(tenants.c.name == name)
                    .values(api_key_hash=api_key_hash)
                    .returning(*tenants.c)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"tenant {name!r} not found")
        return _tenant(row)

    def webhook_endpoint(self, tenant_id: str) -> WebhookEndpoint | None:
        """The tenant's webhook URL and secret, or None when webhooks are off."""
        with reading(self.engine) as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
        if row is None or not row["webhook_url"] or not row["webhook_secret"]:
            return None
        return WebhookEndpoint(row["webhook_url"], row["webhook_secret"], row["name"])

    def set_webhook(self, tenant_id: str, webhook: WebhookEndpoint | None) -> Tenant:
        """Point the tenant's webhooks at a URL with a secret, or turn them off (None)."""
        with writing(self.engine) as conn:
            row = (
                conn.execute(
                    update(tenants)
                    .where(tenants.c.id == tenant_id)
                    .values(
                        webhook_url=webhook.url if webhook else None,
                        webhook_secret=webhook.secret if webhook else None,
                    )
                    .returning(*tenants.c)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"tenant {tenant_id} not found")
        return _tenant(row)


def _tenant(row: RowMapping) -> Tenant:
    return Tenant(id=row["id"], name=row["name"], webhook_url=row["webhook_url"])
