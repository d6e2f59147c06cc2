"""Request dependencies: the deployment's components, the calling tenant, the internal token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from vodforge.bootstrap import Components
from vodforge.errors import Unauthorized
from vodforge.tenants.repository import Tenant

bearer = HTTPBearer(auto_error=False, description="A tenant API key: `Bearer vf_...`")
internal_header = APIKeyHeader(
    name="X-Internal-Token", auto_error=False, description="The deployment's internal token"
)


async def get_components(request: Request) -> Components:
    # async: no I/O here, and a plain `def` dependency would cost a hop through the thread
    # pool on every request.
    components: Components = request.app.state.components
    return components


ComponentsDep = Annotated[Components, Depends(get_components)]


def current_tenant(
    components: ComponentsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Tenant:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send `Authorization: Bearer <API key>`")
    return components.tenants.authenticate(credentials.credentials)


TenantDep = Annotated[Tenant, Depends(current_tenant)]


def internal_caller(
    components: ComponentsDep, token: Annotated[str | None, Security(internal_header)]
) -> None:
    expected = components.settings.internal_token.encode()
    if not token or not hmac.compare_digest(token.encode(), expected):
        raise Unauthorized("send the deployment's internal token in X-Internal-Token")


InternalDep = Annotated[None, Depends(internal_caller)]
