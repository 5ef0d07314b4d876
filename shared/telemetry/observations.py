"""Observations: a decoded measurement placed in the world (who, when, where, what medium).

`normalise` turns a codec's measurements plus the device's configuration and the uplink's
provenance into observations; `event` is the CloudEvent published for each new one, and
`smart_data_model` the FIWARE Smart Data Models view of a device's latest state
(`WaterQualityObserved` for water, `WeatherObserved` for air).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.bus import cloud_event
from shared.store import Document
from shared.telemetry.codecs import Measurement
from shared.telemetry.uplinks import Uplink

#: Quantities measured by the device's own (internal) sensors are of the surrounding air;
#: an external probe measures the medium the device is configured for.
_AMBIENT = frozenset({"temperature", "humidity", "illuminance", "co2", "pressure"})
EVENT_TYPE = "no.smartby.observation.v1"


@dataclass(frozen=True, slots=True)
class Observation:
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

    @property
    def id(self) -> str:
        """Deterministic: a redelivered uplink yields the same id, so consumers can dedupe."""
        key = f"{self.tenant}/{self.device}/{self.quantity}/{self.epoch_ms}"
        return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _medium(measurement: Measurement, device: Mapping[str, Any]) -> str | None:
    if measurement.probe:
        return device.get("medium", "air")
    if measurement.quantity in _AMBIENT:
        return "indoor" if device.get("medium") == "indoor" else "air"
    return None


def normalise(
    tenant: str, device: Mapping[str, Any], uplink: Uplink, measurements: Iterable[Measurement]
) -> list[Observation]:
    location = device.get("location") or {}
    lat, lon = location.get("lat"), location.get("lon")
    area = device.get("area")
    return [
        Observation(
            tenant=tenant,
            device=uplink.dev_eui,
            time=m.time or uplink.received,
            quantity=m.quantity,
            value=m.value,
            unit=m.unit,
            medium=_medium(m, device),
            area=area,
            lat=lat,
            lon=lon,
            source=uplink.source,
            fcnt=uplink.fcnt,
            rssi=uplink.rssi,
            snr=uplink.snr,
        )
        for m in measurements
    ]


def iso(time: datetime) -> str:
    return time.isoformat().replace("+00:00", "Z")


def event(observation: Observation) -> dict[str, Any]:
    """The CloudEvent for one observation, partitioned by tenant/device (order per device)."""
    o = observation
    data: dict[str, Any] = {
        "tenant": o.tenant,
        "device": o.device,
        "time": iso(o.time),
        "quantity": o.quantity,
        "value": o.value,
        "unit": o.unit,
        "medium": o.medium,
        "area": o.area,
        "location": {"lat": o.lat, "lon": o.lon} if o.lat is not None else None,
        "provenance": {"source": o.source, "fCnt": o.fcnt, "rssi": o.rssi, "snr": o.snr},
    }
    return cloud_event(
        id=o.id,
        source=f"/tenants/{o.tenant}/devices/{o.device}",
        type=EVENT_TYPE,
        subject=o.quantity,
        data=data,
        partition_key=f"{o.tenant}/{o.device}",
        time=o.time,
    )


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
