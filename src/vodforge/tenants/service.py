"""Tenant use cases shared by the CLI and the API: create, authenticate, rotate keys."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from vodforge.errors import Conflict, InvalidRequest, Unauthorized
from vodforge.tenants.repository import Tenant, TenantRepository, WebhookEndpoint

DEFAULT_TENANT = "default"
KEY_PREFIX = "vf_"
# A name is an identifier people type on a command line and see in URLs and logs.
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def check_tenant_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise InvalidRequest(
            f"tenant name {name!r} is not valid: 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


class TenantService:
    def __init__(self, tenants: TenantRepository) -> None:
        self.tenants = tenants

    def create(self, name: str, webhook: WebhookEndpoint | None = None) -> tuple[Tenant, str]:
        """A new tenant and its API key; the key is returned once and only its hash kept.
        `webhook` is an endpoint the webhook service has checked (URL) and made (secret)."""
        api_key = new_api_key()
        tenant = self.tenants.insert(check_tenant_name(name), hash_api_key(api_key), webhook)
        return tenant, api_key

    def rotate_key(self, name: str) -> tuple[Tenant, str]:
        """A new key for the tenant; the old one stops working at once."""
        api_key = new_api_key()
        return self.tenants.set_key_hash(name, hash_api_key(api_key)), api_key

    def authenticate(self, api_key: str | None) -> Tenant:
        """The tenant whose key this is, or Unauthorized (missing, malformed or unknown)."""
        if not api_key or not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
            raise Unauthorized()
        digest = hash_api_key(api_key)
        found = self.tenants.credentials_for_hash(digest)
        # The index lookup finds the row; the comparison that decides is constant-time.
        if found is None or not hmac.compare_digest(found.api_key_hash, digest):
            raise Unauthorized()
        return found.tenant

    def by_name(self, name: str) -> Tenant | None:
        return self.tenants.by_name(name)

    def ensure(self, name: str) -> Tenant:
        """A tenant by name, created (with a key nobody has seen) when missing."""
        tenant = self.tenants.by_name(name)
        if tenant is not None:
            return tenant
        try:
            tenant, _ = self.create(name)
        except Conflict:
            tenant = self.tenants.by_name(name)
            assert tenant is not None
        return tenant
