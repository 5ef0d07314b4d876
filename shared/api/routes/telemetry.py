"""Reading the data back: a device's observations, the latest state, and the quarantine (which
an operator can also replay)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared.api.deps import AdminOnly, Continuation, PlatformDep, TenantAdmin, TenantReader
from shared.errors import InvalidInput
from shared.store import Query as StoreQuery
from shared.store.tenancy import TENANT_ID_MAX, TENANT_ID_PATTERN, TenantContainer
from shared.telemetry.codecs.quantities import SPECS
from shared.telemetry.observations import MAX_CLOCK_AHEAD, iso, smart_data_model
from shared.telemetry.quarantine import REASONS, Quarantine, QuarantineRecord
from shared.telemetry.replay import MAX_REPLAY, REPLAYABLE_IN_TENANT, Replayed, replay
from shared.telemetry.series import MAX_QUERY_DAYS
from shared.tenants.model import PLATFORM_PARTITION

router = APIRouter(prefix="/api/tenants/{tenant}", tags=["telemetry"])
platform_router = APIRouter(prefix="/api", tags=["telemetry"])
DevEuiPath = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{16}$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
#: The quantities readings have (`codecs.quantities`): the filter's values, listed in OpenAPI.
QuantityName = Literal[tuple(SPECS)]  # type: ignore[valid-type]


class ObservationItem(BaseModel):
    time: str
    quantity: str
    value: float
    unit: str


class ObservationPage(BaseModel):
    device: str
    items: list[ObservationItem]
    continuation: str | None = None


class LatestValue(BaseModel):
    value: float
    unit: str
    time: str
    medium: str | None = None


class LatestState(BaseModel):
    device: str
    name: str | None = None
    model: str | None = None
    area: str | None = None
    medium: str | None = None
    location: dict[str, float] | None = None
    time: str | None = None
    values: dict[str, LatestValue] = Field(default_factory=dict)


#: What /latest reads of each latest-state document: the fields of `LatestState`, of which
#: `smart_data_model` reads some. Not the frame-counter session nor the open hour of readings,
#: which make a chatty device's state megabytes.
LATEST_FIELDS = tuple(LatestState.model_fields)


class LatestPage(BaseModel):
    items: list[LatestState] | list[dict[str, Any]]
    continuation: str | None = None


class QuarantinePage(BaseModel):
    counts: dict[str, int] = Field(description="Records kept, per reason.")
    items: list[QuarantineRecord]
    continuation: str | None = None


#: What `from` and `to` may be: readings are from 2015 on (older device clocks are rejected),
#: and the bounds keep date arithmetic far from the ends of Python's calendar.
QUERY_START = datetime(2000, 1, 1, tzinfo=UTC)
QUERY_END = datetime(3000, 1, 1, tzinfo=UTC)


def _query_time(value: datetime, name: str) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # a time zone offset past the first or last representable day
        utc = None
    if utc is None or not QUERY_START <= utc < QUERY_END:
        raise InvalidInput(f"`{name}` must be from {QUERY_START:%Y} up to {QUERY_END:%Y}")
    return utc


@router.get("/devices/{dev_eui}/observations", response_model=ObservationPage)
def observations(
    tenant: TenantReader,
    dev_eui: DevEuiPath,
    platform: PlatformDep,
    quantity: Annotated[QuantityName | None, Query(description="One quantity's readings.")] = None,
    start: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="Inclusive; default 24 h before `to` (or now)."),
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(
            alias="to",
            description="Exclusive; default now, and the 10 minutes a device clock may be ahead.",
        )
    ] = None,
    limit: Limit = 500,
    continuation: Continuation = None,
) -> ObservationPage:
    """Readings from `from` up to, not including, `to`, in time order (default: the last 24
    hours), optionally of one quantity."""
    now = datetime.now(UTC)
    given_end = _query_time(end, "to") if end else None
    start = _query_time(start or (given_end or now) - timedelta(days=1), "from")
    # By default up to now, and the minutes a device clock may be ahead, which the 400 days
    # do not count.
    ahead = timedelta(0) if given_end else MAX_CLOCK_AHEAD
    end = given_end or now + ahead
    if start >= end or end - start > timedelta(days=MAX_QUERY_DAYS) + ahead:
        raise InvalidInput(f"`from` must be before `to`, at most {MAX_QUERY_DAYS} days apart")
    dev_eui = dev_eui.lower()
    platform.ingestor.registry(tenant).get(dev_eui)  # 404 for an unknown device
    readings, token = platform.ingestor.series(tenant).read(
        dev_eui, start, end, quantity, limit, continuation
    )
    items = [
        ObservationItem(time=iso(r.time), quantity=r.quantity, value=r.value, unit=r.unit)
        for r in readings
    ]
    return ObservationPage(device=dev_eui, items=items, continuation=token)


@router.get("/latest", response_model=LatestPage)
def latest(
    tenant: TenantReader,
    platform: PlatformDep,
    area: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] = None,
    view: Annotated[
        Literal["smartby", "sdm"],
        Query(description="`sdm`: FIWARE Smart Data Models entities (key-values)."),
    ] = "smartby",
    limit: Limit = 200,
    continuation: Continuation = None,
) -> LatestPage:
    """Each device's newest value per quantity, optionally in one area."""
    container = TenantContainer(platform.store.container("latest"), tenant)
    query = StoreQuery(
        where={"area": area} if area else {}, order_by="device", fields=LATEST_FIELDS
    )
    page = container.query(query, limit=limit, continuation=continuation)
    docs = [d for d in page.items if d.get("time")]
    if view == "sdm":
        return LatestPage(items=[smart_data_model(tenant, d) for d in docs],
                          continuation=page.continuation)
    return LatestPage(items=[LatestState.model_validate(d) for d in docs],
                      continuation=page.continuation)


def _quarantine_page(
    platform: PlatformDep, partition: str, reason: str | None, limit: int, token: str | None
) -> QuarantinePage:
    quarantine = platform.ingestor.quarantine(partition)
    items, next_token = quarantine.list(reason, limit, token)
    return QuarantinePage(counts=quarantine.counts(), items=items, continuation=next_token)


Reason = Annotated[Literal[REASONS] | None, Query()]  # type: ignore[valid-type]
#: Records hold whole messages (up to 256 KiB each): pages of at most 50 keep answers sized.
QuarantineLimit = Annotated[int, Query(ge=1, le=50)]


@router.get("/quarantine", response_model=QuarantinePage)
def quarantine(
    tenant: TenantAdmin,
    platform: PlatformDep,
    reason: Reason = None,
    limit: QuarantineLimit = 50,
    continuation: Continuation = None,
) -> QuarantinePage:
    """Messages ingest set aside, newest first, with their reasons and counts per reason."""
    return _quarantine_page(platform, tenant, reason, limit, continuation)


@platform_router.get("/quarantine", response_model=QuarantinePage)
def platform_quarantine(
    _: AdminOnly,
    platform: PlatformDep,
    reason: Reason = None,
    limit: QuarantineLimit = 50,
    continuation: Continuation = None,
) -> QuarantinePage:
    """Messages that named no known tenant (e.g. an IoT Hub device without a tenant tag)."""
    return _quarantine_page(platform, PLATFORM_PARTITION, reason, limit, continuation)


class _ReplaySelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]] | None = Field(
        None, min_length=1, max_length=MAX_REPLAY
    )
    limit: int = Field(
        100, ge=1, le=MAX_REPLAY,
        description="Without `ids`: how many records, the oldest first.",
    )
    continuation: Continuation = Field(
        None, description="Without `ids`: the `continuation` of the previous replay's report, "
        "to go on past the records it replayed or found refused again.",
    )


class ReplayRequest(_ReplaySelection):
    """Which quarantined messages to ingest again: listed by id, or by reason (and device)."""

    reason: Literal[REPLAYABLE_IN_TENANT] | None = None  # type: ignore[valid-type]
    device: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{16}$")] | None = None

    @model_validator(mode="after")
    def _ids_or_reason(self) -> ReplayRequest:
        if (self.ids is None) == (self.reason is None):
            raise ValueError("give either `ids` or `reason`")
        return self


#: An IoT Hub device id: up to 128 of these characters (not only an EUI-64).
IotHubDeviceId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9\-.+%_#*?!(),:=@$']{1,128}$")
]


class PlatformReplayRequest(_ReplaySelection):
    """Messages that named no known tenant, to ingest into `tenant`: listed by id, or all of
    one device's (named on purpose: a tenant admin may register any device id)."""

    tenant: Annotated[
        str, StringConstraints(pattern=TENANT_ID_PATTERN, max_length=TENANT_ID_MAX)
    ] = Field(description="The tenant the device belongs to (its `tenant` twin tag now).")
    device: IotHubDeviceId | None = None

    @model_validator(mode="after")
    def _ids_or_device(self) -> PlatformReplayRequest:
        if (self.ids is None) == (self.device is None):
            raise ValueError("give either `ids` or `device`")
        return self


class ReplayItem(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    id: str
    outcome: str
    readings: int
    reason: str | None
    detail: str | None
    quarantine_id: str | None = Field(alias="quarantineId")


class ReplayReport(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    counts: dict[str, int] = Field(description="Records per outcome.")
    readings: int = Field(description="Readings stored by the replay.")
    items: list[ReplayItem]
    continuation: str | None = Field(
        None, description="Replaying by reason or device: where the next replay goes on "
        "(null: no records after these)."
    )


_REPLAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The continuation is not one a replay report gave"},
}


@router.post("/quarantine/replay", response_model=ReplayReport, responses=_REPLAY_RESPONSES)
def replay_quarantine(
    tenant: TenantAdmin, platform: PlatformDep, request: ReplayRequest
) -> ReplayReport:
    """Ingest quarantined messages again once their cause is fixed: a device registered late,
    its key corrected, its session reset. Accepted messages leave the quarantine; a message
    rejected again stays, under its new reason. Malformed messages are not replayed."""
    quarantine = platform.ingestor.quarantine(tenant)
    return _replayed(platform, tenant, quarantine, request, request.reason, request.device)


@platform_router.post(
    "/quarantine/replay",
    response_model=ReplayReport,
    responses={404: {"description": "No such tenant"}, **_REPLAY_RESPONSES},
)
def replay_platform_quarantine(
    _: AdminOnly, platform: PlatformDep, request: PlatformReplayRequest
) -> ReplayReport:
    """Ingest messages that named no known tenant into `tenant`, once their device carries its
    tag (`{"device": "<IoT Hub device id>", "tenant": "sandefjord"}`, or `ids`). Only messages
    of devices registered in `tenant` are replayed; the others stay. Each replayed message
    leaves the platform's quarantine; one the tenant refuses goes to the tenant's."""
    platform.tenants.get(request.tenant)  # 404 for a tenant that does not exist
    unrouted = platform.ingestor.quarantine(PLATFORM_PARTITION)
    return _replayed(platform, request.tenant, unrouted, request, "unknown_tenant",
                     request.device, registered_only=True)


def _replayed(
    platform: PlatformDep,
    tenant: str,
    quarantine: Quarantine,
    request: _ReplaySelection,
    reason: str | None,
    device: str | None,
    *,
    registered_only: bool = False,
) -> ReplayReport:
    """Replay into `tenant` the records of `quarantine` that `request` lists by id, or else
    those of `reason` (and `device`); with `registered_only`, only those of devices registered
    in `tenant`."""
    token = None
    if request.ids is not None:
        wanted = list(dict.fromkeys(request.ids))
        records = [r for r in map(quarantine.get, wanted) if r is not None]
    else:
        assert reason is not None  # the request models check it
        records, token = quarantine.find(
            reason, device.lower() if device else None, request.limit, request.continuation
        )
        wanted = [record.id for record in records]
    outcomes: dict[str, Replayed] = {}
    if registered_only:
        registered = platform.ingestor.registry(tenant).lookup(
            (r.device or "").lower() for r in records
        )
        for record in records:
            if (record.device or "").lower() not in registered:
                outcomes[record.id] = Replayed(
                    record.id, "not_replayable", reason="unknown_device",
                    detail=f"device {record.device} is not registered in {tenant}",
                )
        records = [record for record in records if record.id not in outcomes]
    outcomes |= {o.id: o for o in replay(platform.ingestor, tenant, records, kept_in=quarantine)}
    # In the order asked for; an id no longer there was replayed already, or expired.
    ordered = [outcomes.get(record_id) or Replayed(record_id, "not_found") for record_id in wanted]
    items = [
        ReplayItem(id=o.id, outcome=o.outcome, readings=o.readings, reason=o.reason,
                   detail=o.detail, quarantineId=o.quarantine_id)
        for o in ordered
    ]
    return ReplayReport(counts=dict(Counter(o.outcome for o in ordered)),
                        readings=sum(o.readings for o in ordered), items=items,
                        continuation=token)
