"""Observations: what a device measured at one instant, placed in the world (who, when, where,
in what medium).

`normalise` turns a codec's measurements plus the device's configuration and the uplink's
provenance into observations; `event` is the CloudEvent published for one, and
`smart_data_model` the FIWARE Smart Data Models view of a device's latest state
(`WaterQualityObserved` for water, `IndoorEnvironmentObserved` indoors, `WeatherObserved` for
air).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypedDict

import orjson

from shared.bus import CloudEvent, cloud_event
from shared.store import Document
from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.uplinks import Uplink

#: Quantities measured by the device's own (internal) sensors are of the surrounding air;
#: an external probe measures the medium the device is configured for.
_AMBIENT = frozenset({"temperature", "humidity", "illuminance", "co2", "pressure"})
#: How far a device's clock may be ahead of the network's: more is a clock (or a key) gone
#: wrong, and a reading from the future would stay the device's latest until that time came.
MAX_CLOCK_AHEAD = timedelta(minutes=10)
EVENT_TYPE = "no.smartby.observation.v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_new_tuple = tuple.__new__


class Reading(TypedDict):
    """One value of an observation, already in the JSON shape events and documents carry."""

    quantity: str
    value: float
    unit: str
    medium: str | None


class Observation(NamedTuple):
    """What one device observed at one instant: its readings and the context they share.

    An uplink's readings share tenant, device, time, place and provenance, so they are kept
    together (like a SenML pack, or an SDM `WeatherObserved` entity with several attributes):
    the context is built once per uplink, not once per reading, and the rules stage sees an
    instant whole. A payload with device-timed history yields one observation per instant.
    """

    tenant: str
    device: str
    time: datetime  # to the millisecond, as the series keeps it
    # The time formatted once for everything that needs it: the series' stamp and the event
    # id's key (Unix milliseconds), event and document text (RFC 3339, `iso`).
    epoch_ms: int
    iso_time: str
    readings: list[Reading]
    area: str | None
    lat: float | None
    lon: float | None
    source: str
    fcnt: int | None
    rssi: float | None
    snr: float | None
    #: What makes this observation this one, for its event id: the message (tenant, device,
    #: FCnt, payload) and the instant. The instant is the device's time, or for a LoRaWAN
    #: frame timed by the network just "rx": two network servers forwarding one frame stamp it
    #: with two receive times, and it must stay one event.
    key: bytes


def normalise(
    tenant: str, device: Mapping[str, Any], uplink: Uplink, measurements: Iterable[Measurement]
) -> list[Observation]:
    """Place a codec's measurements: medium from the device's configuration, time from the
    device's clock when the payload has one, else the network's receive time.

    The observations are in time order: a payload with history yields its oldest first, so
    its events reach consumers (which take the newest as current) in the order they happened.
    Raises CodecError('out_of_range') for a device time more than MAX_CLOCK_AHEAD ahead of the
    network's receive time or of Smartby's clock.
    """
    probe_medium = device.get("medium", "air")
    ambient_medium = "indoor" if probe_medium == "indoor" else "air"
    received = uplink.received
    instants: dict[datetime, list[Reading]] = {received: []}
    latest: datetime | None = None  # the latest device time taken, once a reading has one
    # Unpacked in the loop header: cheaper than five attribute reads per measurement.
    for quantity, value, unit, probe, time in measurements:
        reading: Reading = {
            "quantity": quantity,
            "value": value,
            "unit": unit,
            "medium": probe_medium if probe else ambient_medium if quantity in _AMBIENT else None,
        }
        if time is None:
            instants[received].append(reading)
            continue
        if latest is None:  # the network's clock may itself be ahead: Smartby's bounds it too
            latest = min(received, datetime.now(UTC)) + MAX_CLOCK_AHEAD
        if time > latest:
            raise CodecError(
                "out_of_range",
                f"device time {iso(time)} is more than {MAX_CLOCK_AHEAD} after the network "
                f"received it ({iso(received)}), or ahead of Smartby's clock",
            )
        instants.setdefault(time, []).append(reading)
    location = device.get("location") or {}
    lat, lon, area = location.get("lat"), location.get("lon"), device.get("area")
    dev_eui, source, fcnt, rssi, snr = (
        uplink.dev_eui, uplink.source, uplink.fcnt, uplink.rssi, uplink.snr
    )
    message = f"{tenant}/{dev_eui}/{fcnt}/".encode() + uplink.payload + b"/"
    network_timed = b"rx" if uplink.lorawan else None
    observations = []
    for time, readings in sorted(instants.items()):
        if not readings:
            continue
        epoch_ms = unix_ms(time)
        instant = network_timed if time is received and network_timed else b"%d" % epoch_ms
        if time.microsecond % 1000:
            # The series keeps milliseconds; events and /latest say the same time, so a client
            # asking for readings from a time it was given gets that reading.
            time = time.replace(microsecond=time.microsecond - time.microsecond % 1000)
        # In field order through tuple.__new__: the NamedTuple's own __new__ is a Python call.
        observations.append(_new_tuple(
            Observation,
            (tenant, dev_eui, time, epoch_ms, iso(time), readings, area, lat, lon, source, fcnt,
             rssi, snr, message + instant),
        ))
    return observations


def unix_ms(time: datetime) -> int:
    """Unix milliseconds, exactly: `timestamp() * 1000` is a millisecond short for some times
    from 2038 on, when a float no longer holds every microsecond."""
    return (time - _EPOCH) // _MILLISECOND


def from_unix_ms(stamp: int) -> datetime:
    """The UTC time of Unix milliseconds (OverflowError past the calendar)."""
    return _EPOCH + stamp * _MILLISECOND


def iso(time: datetime) -> str:
    """RFC 3339 with `Z` for UTC: `isoformat()`'s text (for whole-minute offsets), faster."""
    return orjson.dumps(time, option=orjson.OPT_UTC_Z)[1:-1].decode()


def event(observation: Observation) -> CloudEvent:
    """The CloudEvent of one observation, partitioned by tenant/device (order per device).

    The id is a hash of the observation's `key` (message and instant): a redelivered uplink,
    or one frame from two network servers, yields the same id, so consumers dedupe; two
    messages with the same device time do not. The readings are shared with the observation,
    not copied.
    """
    o = observation
    partition_key = f"{o.tenant}/{o.device}"
    time = o.iso_time
    data: dict[str, Any] = {
        "tenant": o.tenant,
        "device": o.device,
        "time": time,
        "area": o.area,
        "location": {"lat": o.lat, "lon": o.lon} if o.lat is not None else None,
        "provenance": {"source": o.source, "fCnt": o.fcnt, "rssi": o.rssi, "snr": o.snr},
        "readings": o.readings,
    }
    return cloud_event(
        id=hashlib.blake2b(o.key, digest_size=16).hexdigest(),
        source=f"/tenants/{o.tenant}/devices/{o.device}",
        type=EVENT_TYPE,
        subject=o.device,
        data=data,
        partition_key=partition_key,
        time=time,
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
#: Quantities a water entity has no attribute for: a pressure probe in water (DL-PR26)
#: measures the water column, not the atmosphere.
_NOT_IN_WATER = frozenset({"pressure"})


#: The entity for each medium a device can be configured for, and the medium of the readings
#: it carries: a soil probe's device still measures the air around it.
_SDM_ENTITIES: Mapping[str, tuple[str, str]] = {
    "water": ("WaterQualityObserved", "water"),
    "indoor": ("IndoorEnvironmentObserved", "indoor"),
    "air": ("WeatherObserved", "air"),
    "soil": ("WeatherObserved", "air"),
}


def smart_data_model(tenant: str, latest: Document) -> dict[str, Any]:
    """A device's latest state as an NGSI-LD key-values entity of the FIWARE Smart Data Models.

    Water devices become `WaterQualityObserved` (probe temperature is the water temperature),
    indoor devices `IndoorEnvironmentObserved`, all others `WeatherObserved`; each carries only
    the readings of its own medium (a soil probe is not the weather).
    """
    entity_type, medium = _SDM_ENTITIES.get(latest.get("medium", "air"), _SDM_ENTITIES["air"])
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
        if mapping is None or reading.get("medium") != medium:
            continue  # e.g. a lake probe's enclosure air temperature is not the water's
        if medium == "water" and quantity in _NOT_IN_WATER:
            continue
        attribute, factor = mapping
        entity[attribute] = round(reading["value"] * factor, 4)
    return entity
