"""Uplinks from network servers and IP devices: 202 when accepted, problem+json otherwise.

Every rejected message is also kept in the tenant's quarantine; the problem body names the
reason and the quarantine record. A redelivered uplink is answered 202 with `duplicates: 1`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shared.api.deps import PlatformDep, TenantIngest
from shared.api.problems import problem
from shared.telemetry.ingest import Delivery, IngestResult, deliver, deliver_from_device
from shared.telemetry.uplinks import (
    CHIRPSTACK_EVENTS,
    parse_chirpstack,
    parse_ttn,
)

router = APIRouter(prefix="/api/tenants/{tenant}/ingest", tags=["ingest"])

_STATUS = {
    "malformed": 400, "too_large": 413, "fcnt_replayed": 409, "fcnt_regressed": 409,
    "devaddr_changed": 409,
}
_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


class Accepted(BaseModel):
    accepted: int
    duplicates: int
    ignored: int
    readings: int


async def _ingest(
    platform: PlatformDep, tenant: str, request: Request, delivery: Delivery
) -> Response | Accepted:
    result: IngestResult = await run_in_threadpool(platform.ingestor.ingest, tenant, [delivery])
    if result.rejections:
        rejection = result.rejections[0]
        return problem(
            _STATUS.get(rejection.reason, 422), rejection.told, instance=request.url.path,
            reason=rejection.reason, quarantineId=rejection.quarantine_id,
        )
    return Accepted(accepted=result.accepted, duplicates=result.duplicates,
                    ignored=result.ignored, readings=result.readings)


_RESPONSES: dict[int | str, dict] = {
    400: {"description": "Malformed message (quarantined)"},
    409: {"description": "Replayed or regressed frame counter, or another DevAddr for an ABP "
               "device (quarantined)"},
    422: {"description": "Unknown device, missing key, decryption or decoding failed"},
}


@router.post("/ttn", status_code=202, response_model=Accepted, responses=_RESPONSES,
             openapi_extra=_JSON_BODY)
async def ingest_ttn(tenant: TenantIngest, request: Request, platform: PlatformDep):
    """The Things Stack v3 webhook (uplink messages; other message types are ignored)."""
    return await _ingest(platform, tenant, request, deliver("ttn", await request.body(), parse_ttn))


@router.post("/chirpstack", status_code=202, response_model=Accepted, responses=_RESPONSES,
             openapi_extra=_JSON_BODY)
async def ingest_chirpstack(
    tenant: TenantIngest,
    request: Request,
    platform: PlatformDep,
    event: Annotated[
        str,
        Query(
            max_length=32,
            description=(
                "ChirpStack's event type: " + ", ".join(f"`{e}`" for e in CHIRPSTACK_EVENTS)
                + ". Only `up` carries readings; the others, and types a newer ChirpStack may "
                "add, are accepted and ignored."
            ),
        ),
    ],
):
    """ChirpStack v4 HTTP integration (`?event=up`; the other events are accepted and ignored)."""
    body = await request.body()
    delivery = deliver("chirpstack", body, parse_chirpstack, event)
    return await _ingest(platform, tenant, request, delivery)


@router.post("/device/{dev_eui}", status_code=202, response_model=Accepted,
             responses=_RESPONSES, openapi_extra=_JSON_BODY)
async def ingest_device(
    tenant: TenantIngest,
    dev_eui: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{16}$")],
    request: Request,
    platform: PlatformDep,
):
    """An IP device's own message: clear JSON, or an AES-256-GCM envelope for keyed devices."""
    body = await request.body()
    now = datetime.now(UTC)
    return await _ingest(platform, tenant, request, deliver_from_device("http", body, dev_eui, now))
