"""A tenant's device registry. Keys are write-only: they never appear in a response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from shared.api.deps import Continuation, PlatformDep, TenantAdmin, TenantReader
from shared.api.problems import CHANGED_MEANWHILE
from shared.telemetry.devices import DevicePublic, DeviceUpsert

router = APIRouter(prefix="/api/tenants/{tenant}/devices", tags=["devices"])
DevEuiPath = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{16}$", description="EUI-64, 16 hex.")]


class DeviceList(BaseModel):
    items: list[DevicePublic]
    continuation: str | None = None


@router.put(
    "/{dev_eui}",
    response_model=DevicePublic,
    responses={201: {"model": DevicePublic}, **CHANGED_MEANWHILE},
)
def put_device(
    tenant: TenantAdmin, dev_eui: DevEuiPath, body: DeviceUpsert, platform: PlatformDep,
    response: Response,
) -> DevicePublic:
    """Register or update a device; 201 when created. `appSKey`/`aesKey` go to the key store."""
    device, created = platform.ingestor.put_device(tenant, dev_eui, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return device


@router.get("", response_model=DeviceList)
def list_devices(
    tenant: TenantReader,
    platform: PlatformDep,
    area: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    continuation: Continuation = None,
) -> DeviceList:
    """The tenant's devices, optionally in one area, in pages."""
    items, token = platform.ingestor.registry(tenant).list(limit, continuation, area)
    return DeviceList(items=items, continuation=token)


@router.get("/{dev_eui}", response_model=DevicePublic)
def get_device(tenant: TenantReader, dev_eui: DevEuiPath, platform: PlatformDep) -> DevicePublic:
    """One device's configuration (`hasAppSKey` says whether a key is set)."""
    return platform.ingestor.registry(tenant).get(dev_eui)


@router.delete("/{dev_eui}", status_code=status.HTTP_204_NO_CONTENT, responses=CHANGED_MEANWHILE)
def delete_device(tenant: TenantAdmin, dev_eui: DevEuiPath, platform: PlatformDep) -> Response:
    """Remove a device, its keys and its latest state; its stored readings expire with the
    retention."""
    platform.ingestor.delete_device(tenant, dev_eui)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{dev_eui}/session", status_code=status.HTTP_204_NO_CONTENT, responses=CHANGED_MEANWHILE
)
def reset_session(tenant: TenantAdmin, dev_eui: DevEuiPath, platform: PlatformDep) -> Response:
    """Forget the device's frame-counter session, e.g. after an ABP device was reset."""
    platform.ingestor.reset_session(tenant, dev_eui.lower())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
