"""Request dependencies: the deployment's components, the calling tenant, the internal token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from vodforge.api.auth_limit import AuthFailureLimit
from vodforge.bootstrap import Components
from vodforge.errors import Unauthorized
from vodforge.tenants.repository import Tenant

INTERNAL_TOKEN_HEADER = "X-Internal-Token"

bearer = HTTPBearer(auto_error=False, description="A tenant API key: `Bearer vf_...`")
internal_header = APIKeyHeader(
    name=INTERNAL_TOKEN_HEADER, auto_error=False, description="The deployment's internal token"
)


async def get_components(request: Request) -> Components:
    # async: no I/O here, and a plain `def` dependency would cost a hop through the thread
    # pool on every request.
    components: Components = request.app.state.components
    return components


ComponentsDep = Annotated[Components, Depends(get_components)]


def allowed_to_try(request: Request) -> tuple[AuthFailureLimit, str]:
    """This app's failure limit and the caller's address, once the address may still try
    (RateLimited otherwise)."""
    limit: AuthFailureLimit = request.app.state.auth_failures
    client = request.client.host if request.client else "unknown"
    limit.check(client)
    return limit, client


def current_tenant(
    request: Request,
    components: ComponentsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Tenant:
    """The tenant whose key is in `Authorization: Bearer`. A client that sent too many wrong
    keys is refused (429) before its key is looked at; a missing header is not counted."""
    limit, client = allowed_to_try(request)
    try:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("send `Authorization: Bearer <API key>`")
        return components.tenants.authenticate(credentials.credentials)
    except Unauthorized:
        if "authorization" in request.headers:
            limit.failed(client)
        raise


TenantDep = Annotated[Tenant, Depends(current_tenant)]


def internal_caller(
    request: Request,
    components: ComponentsDep,
    token: Annotated[str | None, Security(internal_header)],
) -> None:
    """The deployment's internal token, compared in constant time; wrong tokens count
    towards the same per-client limit as wrong API keys."""
    limit, client = allowed_to_try(request)
    expected = components.settings.internal_token.encode()
    if not token or not hmac.compare_digest(token.encode(), expected):
        if INTERNAL_TOKEN_HEADER in request.headers:
            limit.failed(client)
        raise Unauthorized("send the deployment's internal token in X-Internal-Token")


InternalDep = Annotated[None, Depends(internal_caller)]
