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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.codecs._binary import Reader, expect_port
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

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        expect_port(fport, 1)
        reader = Reader(payload, "big")
        version = reader.uint(1)
        if version != PROTOCOL_VERSION:
            raise CodecError("bad_version", f"protocol version {version}, expected 2")
        reader.take(2)  # device id: the device record, not the payload, identifies the device
        flags = reader.uint(2)
        if flags >> len(self.sensors):
            raise CodecError("unknown_record", f"sensor flags {flags:#06x} name absent sensors")
        measurements: list[Measurement] = []
        for index, sensor in enumerate(self.sensors):
            if flags >> index & 1:
                words = [reader.uint(2) for _ in range(sensor.words)]
                measurements += sensor.convert(words, config)
        if reader.remaining:
            raise CodecError("bad_length", f"{reader.remaining} byte(s) after the last sensor")
        return measurements


def _battery(words: Sequence[int], config: Mapping[str, Any]) -> list[Measurement]:
    return [BATTERY_VOLTAGE(words[0] / 1000)]


def _ds18_temperature(words: Sequence[int], config: Mapping[str, Any]) -> list[Measurement]:
    return [PROBE_TEMPERATURE((words[0] - 32768) / 16)]


def _pressure_range(config: Mapping[str, Any]) -> tuple[float, float]:
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
    pmin, pmax = _pressure_range(config)
    bar = (words[0] - 16384) / 32768 * (pmax - pmin) + pmin
    spec = _pressure_spec(pmin, pmax)
    return [spec(bar * PASCAL_PER_BAR), LIQUID_TEMPERATURE((words[1] - 384) * 0.003125 - 50)]


DL_DS18 = DecentlabCodec("decentlab-dl-ds18", (Sensor(1, _ds18_temperature), Sensor(1, _battery)))
DL_PR26 = DecentlabCodec(
    "decentlab-dl-pr26", (Sensor(2, _pr26_pressure_and_temperature), Sensor(1, _battery))
)
