"""Elsys ERS, ERS Lite and ELT sensors: one codec, registered under all three model ids.

Records are ``[type][value]`` with big-endian values, after Elsys' decoder
(TheThingsNetwork/lorawan-devices, vendor/elsys/elsys.js). Types Smartby has a quantity for are
decoded; the other documented types are skipped by their known length; an undocumented type
stops the parse (its length is unknown), so the payload is rejected as 'unknown_record'.

Conversions worth knowing:
- acceleration is int8 per axis with 63 = 1 g (vendor comment), converted to m/s2;
- VDD and analog input 1 are mV, reported in V;
- pressure is u32 in 1/1000 hPa, reported in Pa;
- water leak is a 0-255 level (vendor example EMS: 17), reported as a 0-1 ratio (level / 255).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.codecs._binary import Reader
from shared.telemetry.codecs.quantities import (
    ACCELERATION_X,
    ACCELERATION_Y,
    ACCELERATION_Z,
    ANALOG_VOLTAGE,
    BATTERY_VOLTAGE,
    CO2,
    DIGITAL_INPUT,
    HUMIDITY,
    ILLUMINANCE,
    MOTION,
    PRESSURE,
    PROBE_TEMPERATURE,
    STANDARD_GRAVITY,
    TEMPERATURE,
    WATER_LEAK,
)

# Documented record types without a Smartby quantity: type -> value length (elsys.js).
_SKIPPED_LENGTHS = {
    0x09: 6,  # GPS
    0x0A: 2,  # pulse input 1
    0x0B: 4,  # pulse input 1, absolute
    0x0E: 2,  # distance, mm
    0x0F: 1,  # accelerometer motion count
    0x10: 4,  # IR temperature, internal + external
    0x11: 1,  # occupancy
    0x13: 65,  # Grid-EYE
    0x15: 2,  # sound peak/average
    0x16: 2,  # pulse input 2
    0x17: 4,  # pulse input 2, absolute
    0x18: 2,  # analog input 2
    0x19: 2,  # external temperature 2
    0x1A: 1,  # digital input 2
    0x1B: 4,  # load cell, uV
    0x1C: 2,  # TVOC, ppb
    0x3D: 4,  # debug
}
_ACCELERATION_PER_COUNT = STANDARD_GRAVITY / 63


def _record(kind: int, reader: Reader) -> list[Measurement]:
    match kind:
        case 0x01:
            return [TEMPERATURE(reader.sint(2) / 10)]
        case 0x02:
            return [HUMIDITY(reader.uint(1))]
        case 0x03:
            return [
                spec(reader.sint(1) * _ACCELERATION_PER_COUNT)
                for spec in (ACCELERATION_X, ACCELERATION_Y, ACCELERATION_Z)
            ]
        case 0x04:
            return [ILLUMINANCE(reader.uint(2))]
        case 0x05:
            return [MOTION(reader.uint(1))]
        case 0x06:
            return [CO2(reader.uint(2))]
        case 0x07:
            return [BATTERY_VOLTAGE(reader.uint(2) / 1000)]
        case 0x08:
            return [ANALOG_VOLTAGE(reader.uint(2) / 1000)]
        case 0x0C:
            return [PROBE_TEMPERATURE(reader.sint(2) / 10)]
        case 0x0D:
            return [DIGITAL_INPUT(reader.uint(1))]
        case 0x12:
            return [WATER_LEAK(reader.uint(1) / 255)]
        case 0x14:
            return [PRESSURE(reader.uint(4) / 10)]  # 1/1000 hPa -> Pa
        case _ if kind in _SKIPPED_LENGTHS:
            reader.take(_SKIPPED_LENGTHS[kind])
            return []
        case _:
            raise CodecError(
                "unknown_record", f"unknown record type {kind:02x} at offset {reader.position - 1}"
            )


class ElsysCodec:
    model = "elsys-ers"

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        if not payload:
            raise CodecError("too_short", "empty payload")
        reader = Reader(payload, "big")
        measurements: list[Measurement] = []
        while reader.remaining:
            measurements.extend(_record(reader.uint(1), reader))
        return measurements


CODEC = ElsysCodec()
