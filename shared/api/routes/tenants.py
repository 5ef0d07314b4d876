"""Tenants (kommuner) and their API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from shared.api.deps import AdminOnly, Continuation, PlatformDep, TenantAdmin, TenantReader
from shared.api.problems import CHANGED_MEANWHILE
from shared.tenants.model import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyPublic,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)

router = APIRouter(prefix="/api/tenants", tags=["tenants"])


class TenantList(BaseModel):
    items: list[TenantPublic]
    continuation: str | None = Field(None, description="Pass as `continuation` for the next page.")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantPublic,
             responses={409: {"description": "A tenant with this id exists"}})
def create_tenant(body: TenantCreate, platform: PlatformDep, _: AdminOnly) -> TenantPublic:
    """Onboard a municipality (platform admin)."""
    return platform.tenants.create(body)


@router.get("", response_model=TenantList)
def list_tenants(
    platform: PlatformDep,
    _: AdminOnly,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    continuation: Continuation = None,
) -> TenantList:
    """Every tenant (platform admin)."""
    items, token = platform.tenants.list(limit, continuation)
    return TenantList(items=items, continuation=token)


@router.get("/{tenant}", response_model=TenantPublic)
def get_tenant(tenant: TenantReader, platform: PlatformDep) -> TenantPublic:
    """A tenant's settings."""
    return platform.tenants.get(tenant)


@router.patch("/{tenant}", response_model=TenantPublic, responses=CHANGED_MEANWHILE)
def update_tenant(tenant: TenantAdmin, body: TenantUpdate, platform: PlatformDep) -> TenantPublic:
    """Change a tenant's name, kommunenummer, locale, time zone or retention."""
    updated = platform.tenants.update(tenant, body)
    if body.retention_days is not None:
        platform.ingestor.forget_retention(tenant)
    return updated


@router.post(
    "/{tenant}/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyIssued,
    responses={409: {"description": "The tenant holds the most keys it may: revoke some"}},
)
def issue_key(tenant: TenantAdmin, body: ApiKeyCreate, platform: PlatformDep) -> ApiKeyIssued:
    """Issue an API key; the response is the only time the key is shown."""
    return platform.api_keys.issue(tenant, body)


@router.get("/{tenant}/keys", response_model=list[ApiKeyPublic])
def list_keys(tenant: TenantAdmin, platform: PlatformDep) -> list[ApiKeyPublic]:
    """The tenant's keys, without the keys themselves."""
    return platform.api_keys.list(tenant)


@router.delete("/{tenant}/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(
    tenant: TenantAdmin,
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")],
    platform: PlatformDep,
) -> Response:
    """Revoke a key at once."""
    platform.api_keys.revoke(tenant, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
