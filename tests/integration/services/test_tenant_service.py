"""TenantService on SQLite and PostgreSQL: names, duplicates, API keys and their rotation."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from vodforge.db.tables import tenants
from vodforge.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from vodforge.tenants.service import KEY_PREFIX, TenantService, hash_api_key


def stored_key_hash(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(tenants.c.api_key_hash).where(tenants.c.name == name)).scalar_one()
        )


def tenant_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(tenants.c.id)).all())


def test_create_returns_the_tenant_and_a_key_whose_hash_alone_is_stored(
    tenant_service: TenantService, engine: Engine
) -> None:
    tenant, api_key = tenant_service.create("acme")
    assert tenant.name == "acme" and tenant.webhook_url is None
    assert api_key.startswith(KEY_PREFIX) and len(api_key) > 40
    stored = stored_key_hash(engine, "acme")
    assert stored == hash_api_key(api_key) and api_key not in stored
    assert tenant_service.by_name("acme") == tenant
    assert tenant_service.by_name("nobody") is None


@pytest.mark.parametrize(
    "name",
    ["", " ", "two words", "acme/evil", "../acme", "/acme", "acme\n", "-leading-dash", "x" * 101],
    ids=repr,
)
def test_create_refuses_names_that_are_not_identifiers(
    tenant_service: TenantService, engine: Engine, name: str
) -> None:
    with pytest.raises(InvalidRequest):
        tenant_service.create(name)
    assert tenant_count(engine) == 0


@pytest.mark.parametrize("name", ["a", "acme", "Acme-2.video_site", "9lives", "x" * 100])
def test_create_accepts_identifiers(tenant_service: TenantService, name: str) -> None:
    tenant, _ = tenant_service.create(name)
    assert tenant.name == name


def test_a_duplicate_name_is_a_conflict_and_keeps_the_first_key(
    tenant_service: TenantService, engine: Engine
) -> None:
    first, api_key = tenant_service.create("acme")
    with pytest.raises(Conflict):
        tenant_service.create("acme")
    assert tenant_count(engine) == 1
    assert tenant_service.authenticate(api_key) == first


def test_ensure_creates_once_then_returns_the_same_tenant(tenant_service: TenantService) -> None:
    made = tenant_service.ensure("default")
    assert tenant_service.ensure("default") == made
    assert tenant_service.by_name("default") == made


def test_authenticate_accepts_only_the_right_key(tenant_service: TenantService) -> None:
    acme, acme_key = tenant_service.create("acme")
    other, other_key = tenant_service.create("other")
    assert tenant_service.authenticate(acme_key) == acme
    assert tenant_service.authenticate(other_key) == other

    wrong = KEY_PREFIX + "A" * len(acme_key.removeprefix(KEY_PREFIX))
    one_char_off = acme_key[:-1] + ("A" if acme_key[-1] != "A" else "B")
    for bad in (wrong, one_char_off, acme_key + "x", acme_key.upper()):
        with pytest.raises(Unauthorized):
            tenant_service.authenticate(bad)


@pytest.mark.parametrize(
    "key",
    [None, "", "vf_", "not-a-vodforge-key", "Bearer vf_abc", "vf_" + "a" * 300, "vf_\x00"],
    ids=repr,
)
def test_authenticate_refuses_missing_and_malformed_keys(
    tenant_service: TenantService, key: str | None
) -> None:
    tenant_service.create("acme")
    with pytest.raises(Unauthorized):
        tenant_service.authenticate(key)


def test_a_stored_hash_is_not_a_key(tenant_service: TenantService, engine: Engine) -> None:
    tenant_service.create("acme")
    with pytest.raises(Unauthorized):
        tenant_service.authenticate(stored_key_hash(engine, "acme"))


def test_rotate_key_retires_the_old_key_at_once(tenant_service: TenantService) -> None:
    acme, old_key = tenant_service.create("acme")
    other, other_key = tenant_service.create("other")

    rotated, new_key = tenant_service.rotate_key("acme")

    assert rotated == acme and new_key != old_key
    assert tenant_service.authenticate(new_key) == acme
    with pytest.raises(Unauthorized):
        tenant_service.authenticate(old_key)
    # Another tenant's key is untouched.
    assert tenant_service.authenticate(other_key) == other

    _, newest_key = tenant_service.rotate_key("acme")
    assert tenant_service.authenticate(newest_key) == acme
    with pytest.raises(Unauthorized):
        tenant_service.authenticate(new_key)


def test_rotate_key_of_an_unknown_tenant_is_not_found(tenant_service: TenantService) -> None:
    with pytest.raises(NotFound):
        tenant_service.rotate_key("nobody")
