"""The device registry: what each sensor is, where it is, and how to read it.

A device's configuration (model, variant parameters, the medium its probe measures, location,
area) lives in the `devices` container; its keys do not. `appSKey` (LoRaWAN, 16 bytes) and
`aesKey` (IP devices' AES-256-GCM envelope, 32 bytes) are write-only: they go to the key store
under `device-<devEui>-appskey` / `-aeskey` and the document only records that a key is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import ChangedMeanwhile, InvalidInput, NotFound
from shared.keys import TenantKeys
from shared.store import Conflict as StoreConflict
from shared.store import Document, PreconditionFailed, Query, StoreError, until_unchanged
from shared.store import NotFound as StoreNotFound
from shared.store.tenancy import TenantContainer
from shared.telemetry.codecs import MODELS, CodecError, check_config
from shared.tenants.model import PRINTABLE, Name, Strict, Text
from shared.ttl import TtlCache

#: Reads and writes of one registration while others change it meanwhile, at most.
_WRITE_ATTEMPTS = 5
PARAM_NAME = r"^[a-z_]{1,40}$"

Area = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", examples=["goksjo"])]


class Medium(StrEnum):
    AIR = "air"
    WATER = "water"
    SOIL = "soil"
    INDOOR = "indoor"


class Location(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


#: A variant parameter: JSON's exact numbers (an int beyond 2**53 is no number a JSON reader
#: can keep, and the store's serialiser refuses it) or short text.
ParamValue = (
    bool
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | Annotated[str, Field(max_length=200)]
)


class DeviceUpsert(Strict):
    model: Literal[MODELS] = Field(  # type: ignore[valid-type]
        description="Codec id: " + ", ".join(f"`{m}`" for m in MODELS) + "."
    )
    name: Name
    location: Location | None = None
    area: Area | None = None
    medium: Annotated[Medium, Field(strict=False)] = Medium.AIR
    params: dict[
        Annotated[str, Field(pattern=PARAM_NAME)],
        ParamValue | Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=20)],
    ] = Field(
        default_factory=dict,
        max_length=20,
        description=(
            "Variant parameters: `pmin`/`pmax` (bar) for DL-PR26; `wired_inputs` for "
            "LSN50v2-D20 (any of `analog_voltage`, `door_open`, `digital_input`)."
        ),
        json_schema_extra={"propertyNames": {"pattern": PARAM_NAME}},
    )
    tags: list[Annotated[Text, Field(min_length=1, max_length=40, pattern=PRINTABLE)]] = Field(
        default_factory=list, max_length=20
    )
    app_s_key: str | None = Field(
        None,
        alias="appSKey",
        pattern=r"^[0-9a-fA-F]{32}$",
        description="Write-only LoRaWAN AppSKey (32 hex). Stored in the key store only; "
        "left out, the key is kept; null removes it.",
    )
    aes_key: str | None = Field(
        None,
        alias="aesKey",
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Write-only AES-256 key (64 hex) for IP devices' encrypted envelopes; "
        "left out, the key is kept; null removes it.",
    )

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class DevicePublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    dev_eui: str = Field(alias="devEui")
    model: str
    name: str
    location: Location | None = None
    area: str | None = None
    medium: str
    params: dict[str, Any]
    tags: list[str]
    has_app_s_key: bool = Field(alias="hasAppSKey")
    has_aes_key: bool = Field(alias="hasAesKey")
    created: datetime
    updated: datetime


def app_s_key_name(dev_eui: str) -> str:
    return f"device-{dev_eui}-appskey"


def aes_key_name(dev_eui: str) -> str:
    return f"device-{dev_eui}-aeskey"


class DeviceRegistry:
    """One tenant's devices. Ingest reads them through `lookup`, backed by the shared
    `DeviceCache`."""

    def __init__(self, devices: TenantContainer, keys: TenantKeys, cache: DeviceCache) -> None:
        self._devices = devices
        self._keys = keys
        self._cache = cache

    @property
    def tenant(self) -> str:
        return self._devices.tenant

    def put(self, dev_eui: str, data: DeviceUpsert) -> tuple[DevicePublic, bool]:
        """Create or replace; returns the device and whether it was created."""
        dev_eui = dev_eui.lower()
        try:
            check_config(data.model, data.params)  # what its codec will need, checked now
        except CodecError as exc:
            raise InvalidInput(str(exc)) from None
        try:
            doc, created = until_unchanged(lambda: self._write(dev_eui, data), _WRITE_ATTEMPTS)
        except PreconditionFailed:
            raise ChangedMeanwhile(f"device {dev_eui} kept changing meanwhile; retry") from None
        self._cache.forget(self.tenant, dev_eui)
        return DevicePublic.model_validate(doc), created

    def _write(self, dev_eui: str, data: DeviceUpsert) -> tuple[Document, bool]:
        """One read and conditional write of the registration (and its keys): a device deleted
        or changed since the read raises PreconditionFailed, to be read again, so that it is
        not brought back saying it has the keys its deletion removed."""
        existing = self._devices.read(dev_eui) or {}
        now = datetime.now(UTC).isoformat()
        keys = {  # name -> (flag in the document, the key given; None given: remove it)
            app_s_key_name(dev_eui): ("hasAppSKey", "app_s_key"),
            aes_key_name(dev_eui): ("hasAesKey", "aes_key"),
        }
        given = {name: getattr(data, field) for name, (_, field) in keys.items()
                 if field in data.model_fields_set}
        doc = data.model_dump(mode="json", exclude={"app_s_key", "aes_key"}) | {
            "id": dev_eui,
            "devEui": dev_eui,
            **{flag: bool(given[name]) if name in given else bool(existing.get(flag))
               for name, (flag, _) in keys.items()},
            "created": existing.get("created", now),
            "updated": now,
        }
        written: list[str] = []
        try:
            for name, key in given.items():
                if key:
                    written.append(name)  # first: a write that fails may have landed
                    self._keys.put(name, bytes.fromhex(key))
            if existing:
                self._devices.replace(doc, etag=existing["_etag"])
            else:
                self._devices.create(doc)
        except (StoreConflict, StoreNotFound):
            raise PreconditionFailed(f"device {dev_eui} changed meanwhile") from None
        except PreconditionFailed:
            raise  # read again: its keys are written again, or removed by whoever came first
        except BaseException:
            if not existing and not self._may_be_stored(dev_eui):
                for name in written:  # no device holds these keys: leave none behind
                    self._keys.delete(name)
            raise
        for name, key in given.items():
            if key is None:  # removed: the device no longer says it has one
                self._keys.delete(name)
        return doc, not existing

    def _may_be_stored(self, dev_eui: str) -> bool:
        """After a failed write: whether it may have landed all the same (a timeout after the
        store took it), in which case its keys must stay."""
        try:
            return self._devices.read(dev_eui) is not None
        except StoreError:
            return True

    def get(self, dev_eui: str) -> DevicePublic:
        doc = self._devices.read(dev_eui.lower())
        if doc is None:
            raise NotFound(f"no device {dev_eui!r}")
        return DevicePublic.model_validate(doc)

    def delete(self, dev_eui: str) -> None:
        """The keys go first: if deleting them fails, the device is still there for a retry
        (deleted first, a retry would answer 404 and leave the keys behind). The registration
        goes only as it was read: a PUT in between (which may have written a new key) makes
        it go round again, so no key outlives its device."""
        dev_eui = dev_eui.lower()
        attempts = 0

        def delete_as_read() -> None:
            nonlocal attempts
            attempts += 1
            doc = self._devices.read(dev_eui)
            if doc is None:
                if attempts == 1:
                    raise NotFound(f"no device {dev_eui!r}")
                return  # deleted meanwhile by another request, its keys with it
            self._keys.delete(app_s_key_name(dev_eui))
            self._keys.delete(aes_key_name(dev_eui))
            self._devices.delete(dev_eui, etag=doc["_etag"])

        try:
            until_unchanged(delete_as_read, _WRITE_ATTEMPTS)
        finally:
            self._cache.forget(self.tenant, dev_eui)

    def list(
        self, limit: int, continuation: str | None, area: str | None = None
    ) -> tuple[list[DevicePublic], str | None]:
        query = Query(where={"area": area} if area else {}, order_by="id")
        page = self._devices.query(query, limit=limit, continuation=continuation)
        return [DevicePublic.model_validate(d) for d in page.items], page.continuation

    def lookup(self, dev_euis: Iterable[str]) -> dict[str, Document]:
        """The registered devices among `dev_euis` (lower-case), cached for the hot path."""
        wanted = {d.lower() for d in dev_euis}
        found: dict[str, Document] = {}
        missing = []
        for dev_eui in wanted:
            hit = self._cache.get(self.tenant, dev_eui)
            if hit is None:
                missing.append(dev_eui)
            elif hit is not DeviceCache.ABSENT:
                found[dev_eui] = hit
        if missing:
            cache = self._cache
            generations = {d: cache.generation(self.tenant, d) for d in missing}
            docs = {d["id"]: d for d in self._devices.read_many(missing)}
            for dev_eui in missing:
                doc = docs.get(dev_eui)
                cache.put(self.tenant, dev_eui, doc, generations[dev_eui])
                if doc is not None:
                    found[dev_eui] = doc
        return found


class DeviceCache:
    """Process-wide cache of device documents (and of absences) with a time to live.

    A device changed through this process is forgotten at once; a change made by another
    Functions instance is seen within `ttl` seconds.
    """

    ABSENT: Any = object()

    def __init__(self, ttl: float = 60.0, max_entries: int = 200_000) -> None:
        self._entries: TtlCache[tuple[str, str], Any] = TtlCache(ttl, max_entries)

    def get(self, tenant: str, dev_eui: str) -> Any:
        return self._entries.get((tenant, dev_eui))

    def generation(self, tenant: str, dev_eui: str) -> int:
        return self._entries.generation((tenant, dev_eui))

    def put(self, tenant: str, dev_eui: str, doc: Document | None, generation: int) -> None:
        """Cache what the registry held when `generation(...)` returned `generation`."""
        self._entries.put((tenant, dev_eui), self.ABSENT if doc is None else doc, generation)

    def forget(self, tenant: str, dev_eui: str) -> None:
        self._entries.forget((tenant, dev_eui))
