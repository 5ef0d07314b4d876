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

import struct
from collections.abc import Mapping
from typing import Any

from shared.telemetry.codecs import Measurement
from shared.telemetry.codecs._binary import RecordFormat
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
_I16, _U8, _U16, _U32 = (
    struct.Struct(">h"),
    struct.Struct(">B"),
    struct.Struct(">H"),
    struct.Struct(">I"),
)


def _acceleration(x: int, y: int, z: int) -> list[Measurement]:
    return [
        ACCELERATION_X(x * _ACCELERATION_PER_COUNT),
        ACCELERATION_Y(y * _ACCELERATION_PER_COUNT),
        ACCELERATION_Z(z * _ACCELERATION_PER_COUNT),
    ]


_FORMAT = RecordFormat(
    1,
    {
        0x01: (_I16, lambda raw: [TEMPERATURE(raw / 10)]),
        0x02: (_U8, lambda raw: [HUMIDITY(raw)]),
        0x03: (struct.Struct(">bbb"), _acceleration),
        0x04: (_U16, lambda raw: [ILLUMINANCE(raw)]),
        0x05: (_U8, lambda raw: [MOTION(raw)]),
        0x06: (_U16, lambda raw: [CO2(raw)]),
        0x07: (_U16, lambda raw: [BATTERY_VOLTAGE(raw / 1000)]),
        0x08: (_U16, lambda raw: [ANALOG_VOLTAGE(raw / 1000)]),
        0x0C: (_I16, lambda raw: [PROBE_TEMPERATURE(raw / 10)]),
        0x0D: (_U8, lambda raw: [DIGITAL_INPUT(raw)]),
        0x12: (_U8, lambda raw: [WATER_LEAK(raw / 255)]),
        0x14: (_U32, lambda raw: [PRESSURE(raw / 10)]),  # 1/1000 hPa -> Pa
    },
    _SKIPPED_LENGTHS,
)


class ElsysCodec:
    model = "elsys-ers"
    params: frozenset[str] = frozenset()

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        return _FORMAT.decode(payload)


CODEC = ElsysCodec()
