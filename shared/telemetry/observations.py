"""Observations: a decoded measurement placed in the world (who, when, where, what medium).

`normalise` turns a codec's measurements plus the device's configuration and the uplink's
provenance into observations; `events` are the CloudEvents published for them, and
`smart_data_model` the FIWARE Smart Data Models view of a device's latest state
(`WaterQualityObserved` for water, `WeatherObserved` for air).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import groupby
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

from shared.bus import CloudEvent, cloud_event
from shared.store import Document
from shared.telemetry.codecs import Measurement
from shared.telemetry.uplinks import Uplink

#: Quantities measured by the device's own (internal) sensors are of the surrounding air;
#: an external probe measures the medium the device is configured for.
_AMBIENT = frozenset({"temperature", "humidity", "illuminance", "co2", "pressure"})
EVENT_TYPE = "no.smartby.observation.v1"
#: What the observations of one uplink share.
_UPLINK = attrgetter("tenant", "device", "time")


class Observation(NamedTuple):
    """One reading placed in the world: a NamedTuple, immutable and cheap to build per reading."""

    tenant: str
    device: str
    time: datetime
    quantity: str
    value: float
    unit: str
    medium: str | None
    area: str | None
    lat: float | None
    lon: float | None
    source: str
    fcnt: int | None
    rssi: float | None
    snr: float | None

    @property
    def epoch_ms(self) -> int:
        return int(self.time.timestamp() * 1000)


def normalise(
    tenant: str, device: Mapping[str, Any], uplink: Uplink, measurements: Iterable[Measurement]
) -> list[Observation]:
    location = device.get("location") or {}
    lat, lon = location.get("lat"), location.get("lon")
    area = device.get("area")
    probe_medium = device.get("medium", "air")
    ambient_medium = "indoor" if device.get("medium") == "indoor" else "air"
    dev_eui, received, source = uplink.dev_eui, uplink.received, uplink.source
    fcnt, rssi, snr = uplink.fcnt, uplink.rssi, uplink.snr
    # Positional, in field order: this runs once per reading, and keywords cost more.
    return [
        Observation(
            tenant,
            dev_eui,
            m.time or received,
            m.quantity,
            m.value,
            m.unit,
            probe_medium if m.probe else ambient_medium if m.quantity in _AMBIENT else None,
            area,
            lat,
            lon,
            source,
            fcnt,
            rssi,
            snr,
        )
        for m in measurements
    ]


def iso(time: datetime) -> str:
    """RFC 3339 with `Z` for UTC: `isoformat()`'s text (for whole-minute offsets), faster."""
    return orjson.dumps(time, option=orjson.OPT_UTC_Z)[1:-1].decode()


def events(observations: Iterable[Observation]) -> list[CloudEvent]:
    """One CloudEvent per device and instant, carrying every reading taken then.

    An uplink's readings share tenant, device, time, place and provenance, so they travel
    together (like a SenML pack, or an SDM `WeatherObserved` entity with several attributes):
    the rules stage sees an instant whole, and the event cost is paid once per uplink, not once
    per reading. Partitioned by tenant/device (order per device). The id is a hash of
    tenant/device/epoch ms: a redelivered uplink yields the same id, so consumers dedupe.
    """
    built: list[CloudEvent] = []
    for (tenant, device, time), group in groupby(observations, _UPLINK):
        readings = list(group)
        first = readings[0]
        partition_key = f"{tenant}/{device}"
        key = f"{partition_key}/{first.epoch_ms}"
        data: dict[str, Any] = {
            "tenant": tenant,
            "device": device,
            "time": iso(time),
            "area": first.area,
            "location": {"lat": first.lat, "lon": first.lon} if first.lat is not None else None,
            "provenance": {
                "source": first.source, "fCnt": first.fcnt, "rssi": first.rssi, "snr": first.snr,
            },
            "readings": [
                {"quantity": o.quantity, "value": o.value, "unit": o.unit, "medium": o.medium}
                for o in readings
            ],
        }
        built.append(
            cloud_event(
                id=hashlib.blake2b(key.encode(), digest_size=16).hexdigest(),
                source=f"/tenants/{tenant}/devices/{device}",
                type=EVENT_TYPE,
                subject=device,
                data=data,
                partition_key=partition_key,
                time=data["time"],
            )
        )
    return built


# Smart Data Models attribute names (and unit conversions) for the quantities that have one.
_SDM_ATTRIBUTES: Mapping[str, tuple[str, float]] = {
    "temperature": ("temperature", 1.0),
    "probe_temperature": ("temperature", 1.0),
    "liquid_temperature": ("temperature", 1.0),
    "humidity": ("relativeHumidity", 0.01),  # SDM: a fraction 0..1
    "illuminance": ("illuminance", 1.0),
    "pressure": ("atmosphericPressure", 0.01),  # SDM: hPa
}


def smart_data_model(tenant: str, latest: Document) -> dict[str, Any]:
    """A device's latest state as an NGSI-LD key-values entity of the FIWARE Smart Data Models.

    Water devices become `WaterQualityObserved` (probe temperature is the water temperature),
    all others `WeatherObserved`.
    """
    water = latest.get("medium") == "water"
    entity_type = "WaterQualityObserved" if water else "WeatherObserved"
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:{entity_type}:{tenant}:{latest['device']}",
        "type": entity_type,
        "dateObserved": latest.get("time"),
        "refDevice": f"urn:ngsi-ld:Device:{tenant}:{latest['device']}",
    }
    if latest.get("location"):
        loc = latest["location"]
        entity["location"] = {"type": "Point", "coordinates": [loc["lon"], loc["lat"]]}
    if latest.get("area"):
        entity["areaServed"] = latest["area"]
    for quantity, reading in latest.get("values", {}).items():
        mapping = _SDM_ATTRIBUTES.get(quantity)
        if mapping is None or water != (reading.get("medium") == "water"):
            continue  # e.g. a lake probe's enclosure air temperature is not the water's
        attribute, factor = mapping
        entity[attribute] = round(reading["value"] * factor, 4)
    return entity
