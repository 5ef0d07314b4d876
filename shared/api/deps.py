"""Request dependencies: the platform, the caller, and what the caller may touch.

Route families declare who may call them with `TenantAccess(...)` or `AdminOnly`; a key of one
tenant never passes for another tenant's path (403), and the platform admin passes everywhere
but still gets 404 for a tenant that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.bootstrap import Platform
from shared.errors import Forbidden, Unauthenticated
from shared.store.tenancy import TENANT_ID_MAX, TENANT_ID_PATTERN
from shared.tenants.model import Scope
from shared.tenants.service import Principal

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_principal(
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send an API key as `Authorization: Bearer <key>`")
    return platform.api_keys.authenticate(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs the platform admin key")
    return principal


AdminOnly = Annotated[Principal, Depends(require_admin)]


class TenantAccess:
    """Resolves the `{tenant}` path parameter for a caller holding one of `scopes`."""

    def __init__(self, *scopes: Scope) -> None:
        self.scopes = frozenset(scopes)

    def __call__(
        self,
        platform: PlatformDep,
        principal: PrincipalDep,
        tenant: Annotated[
            str, Path(pattern=TENANT_ID_PATTERN, min_length=2, max_length=TENANT_ID_MAX)
        ],
    ) -> str:
        if principal.is_admin:
            platform.tenants.get(tenant)  # 404 for an unknown tenant
            return tenant
        if principal.tenant != tenant:
            raise Forbidden("this key belongs to another tenant")
        if not self.scopes & principal.scopes:
            wanted = " or ".join(sorted(s.value for s in self.scopes))
            raise Forbidden(f"this needs a key with the scope {wanted}")
        return tenant


TenantAdmin = Annotated[str, Depends(TenantAccess(Scope.TENANT_ADMIN))]
TenantReader = Annotated[str, Depends(TenantAccess(Scope.TENANT_ADMIN, Scope.READ, Scope.APP))]
TenantIngest = Annotated[str, Depends(TenantAccess(Scope.INGEST))]


#: Paging token from a previous page; opaque, and long for Cosmos cross-partition queries.
Continuation = Annotated[
    str | None, Query(max_length=4096, description="`continuation` of the previous page.")
]
