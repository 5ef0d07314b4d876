"""Decentlab sensors speaking Decentlab's protocol version 2 (DL-DS18, DL-PR26).

Big-endian u16 words on FPort 1, after Decentlab's decoders (TheThingsNetwork/lorawan-devices,
vendor/decentlab/dl-ds18.js and dl-pr26-0-1.js):

    byte 0     protocol version, must be 2
    bytes 1-2  device id
    bytes 3-4  sensor-present flags, bit i = sensor i's words follow
    then, for each present sensor in order, that sensor's words

A model is a list of sensors (word count + conversion). A flag for a sensor the model does not
have, or bytes left over, mean this is not that model's frame and the payload is rejected.

DL-PR26 pressure depends on the transducer's range: ``config["pmin"]`` and ``config["pmax"]``
in bar (the TTN decoder hard-codes 0 and 1 bar for the dl-pr26-0-1 variant).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.codecs._binary import expect_port
from shared.telemetry.codecs.quantities import (
    BATTERY_VOLTAGE,
    LIQUID_TEMPERATURE,
    PRESSURE,
    PROBE_TEMPERATURE,
    Spec,
    is_number,
)

PROTOCOL_VERSION = 2
PASCAL_PER_BAR = 100_000.0
# PR26 readings slightly outside [pmin, pmax] are normal (vendor example: -0.0117 bar on a
# 0-1 bar unit); beyond this share of the span they are not a pressure.
_PRESSURE_TOLERANCE = 0.1

Convert = Callable[[Sequence[int], Mapping[str, Any]], list[Measurement]]


@dataclass(frozen=True, slots=True)
class Sensor:
    """One block of a Decentlab frame: how many words it has and what they mean."""

    words: int
    convert: Convert


@dataclass(frozen=True, slots=True)
class DecentlabCodec:
    model: str
    sensors: tuple[Sensor, ...]
    #: Checks the device configuration the sensors' conversions read (raises CodecError).
    config: Callable[[Mapping[str, Any]], object] | None = None
    #: The names of the device configuration's params the sensors' conversions read.
    params: frozenset[str] = frozenset()

    def check_config(self, config: Mapping[str, Any]) -> None:
        if self.config is not None:
            self.config(config)

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        expect_port(fport, 1)
        if not payload:
            raise CodecError("too_short", "empty payload")
        if payload[0] != PROTOCOL_VERSION:
            raise CodecError("bad_version", f"protocol version {payload[0]}, expected 2")
        if len(payload) < _HEADER.size:
            raise CodecError("too_short", f"{len(payload)} byte(s) cannot hold the header")
        # The device id (bytes 1-2) is skipped: the device record, not the payload, identifies
        # the device.
        flags = _HEADER.unpack_from(payload)[2]
        if flags >> len(self.sensors):
            raise CodecError("unknown_record", f"sensor flags {flags:#06x} name absent sensors")
        layout, present = _layout(self.sensors, flags)
        body = len(payload) - _HEADER.size
        if body < layout.size:
            raise CodecError("too_short", f"sensor flags {flags:#06x} need {layout.size} bytes")
        if body > layout.size:
            raise CodecError("bad_length", f"{body - layout.size} byte(s) after the last sensor")
        words = layout.unpack_from(payload, _HEADER.size)
        measurements: list[Measurement] = []
        start = 0
        for sensor in present:
            measurements += sensor.convert(words[start : start + sensor.words], config)
            start += sensor.words
        return measurements


#: Protocol version, device id, sensor-present flags.
_HEADER = struct.Struct(">BHH")


@lru_cache(maxsize=64)
def _layout(sensors: tuple[Sensor, ...], flags: int) -> tuple[struct.Struct, list[Sensor]]:
    """The words that follow the header for these flags, as one unpack, and their sensors."""
    present = [sensor for index, sensor in enumerate(sensors) if flags >> index & 1]
    return struct.Struct(f">{sum(sensor.words for sensor in present)}H"), present


def _battery(words: Sequence[int], config: Mapping[str, Any]) -> list[Measurement]:
    return [BATTERY_VOLTAGE(words[0] / 1000)]


def _ds18_temperature(words: Sequence[int], config: Mapping[str, Any]) -> list[Measurement]:
    return [PROBE_TEMPERATURE((words[0] - 32768) / 16)]


def pressure_range(config: Mapping[str, Any]) -> tuple[float, float]:
    pmin, pmax = config.get("pmin"), config.get("pmax")
    if is_number(pmin) and is_number(pmax) and pmin < pmax:
        return float(pmin), float(pmax)
    raise CodecError(
        "missing_config", "DL-PR26 needs numeric config pmin < pmax (bar) for its transducer"
    )


@lru_cache(maxsize=256)
def _pressure_spec(pmin: float, pmax: float) -> Spec:
    """The accepted range of one transducer; cached, as a fleet has few (pmin, pmax) pairs."""
    span = pmax - pmin
    return replace(
        PRESSURE,
        low=(pmin - _PRESSURE_TOLERANCE * span) * PASCAL_PER_BAR,
        high=(pmax + _PRESSURE_TOLERANCE * span) * PASCAL_PER_BAR,
        probe=True,
    )


def _pr26_pressure_and_temperature(
    words: Sequence[int], config: Mapping[str, Any]
) -> list[Measurement]:
    pmin, pmax = pressure_range(config)
    bar = (words[0] - 16384) / 32768 * (pmax - pmin) + pmin
    spec = _pressure_spec(pmin, pmax)
    # Rounded below the sensor's resolution (span / 32768: 3 Pa for 1 bar; 0.003125 degC, six
    # decimals exactly), so the float arithmetic's noise (4.200000000000003) never reaches
    # stored values.
    return [
        spec(round(bar * PASCAL_PER_BAR, 3)),
        LIQUID_TEMPERATURE(round((words[1] - 384) * 0.003125 - 50, 6)),
    ]


DL_DS18 = DecentlabCodec("decentlab-dl-ds18", (Sensor(1, _ds18_temperature), Sensor(1, _battery)))
DL_PR26 = DecentlabCodec(
    "decentlab-dl-pr26",
    (Sensor(2, _pr26_pressure_and_temperature), Sensor(1, _battery)),
    pressure_range,
    frozenset({"pmin", "pmax"}),
)
