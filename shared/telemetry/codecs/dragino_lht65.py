"""Dragino LHT65 temperature and humidity sensor with an optional external sensor.

Eleven big-endian bytes on FPort 2, after Dragino's decoder (TheThingsNetwork/lorawan-devices,
vendor/dragino/lht65.js) and the LHT65 user manual (section 2.4):

    0-1  battery: status in the top 2 bits, voltage in mV in the low 14 bits
    2-3  built-in SHT temperature, int16 / 100 degC
    4-5  built-in SHT humidity, (u16 & 0x0FFF) / 10 %RH
    6    external sensor: type in the low nibble; bit 7 set = sensor cable not connected;
         bit 6 set = reply to a datalog poll (the vendor decoder ignores those; so do we)
    7-10 depend on the external sensor type

Supported external types: 0 none, 1 DS18B20 probe (int16 / 100 at 7-8; 0x7FFF = no reading),
5 illuminance (u16 lux), 6 ADC (u16 mV), 9 DS18B20 with Unix timestamp (probe temperature moves
to bytes 0-1, the timestamp is at 7-10 and there is no battery voltage). Interrupt and counting
types (4, 7, 8) have no Smartby quantity yet: their frames give the built-in readings, which
they carry as every type does, and bytes 7-10 are not read. Any other type is rejected as
'unsupported_mode' (0x0F, the device's ID frame, has no readings at 2-5).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.codecs._binary import expect_length, expect_port
from shared.telemetry.codecs.quantities import (
    ANALOG_VOLTAGE,
    BATTERY_VOLTAGE,
    HUMIDITY,
    ILLUMINANCE,
    PROBE_TEMPERATURE,
    TEMPERATURE,
    device_time,
)

_NO_PROBE_READING = 0x7FFF  # manual: "no DS18B20 connected ... set to 7FFF which is 327.67"
#: The whole frame in one unpack: u16 battery (or, in mode 9, int16 probe), int16 SHT
#: temperature, u16 humidity, u8 external type, then bytes 7-8 as int16 and 9-10 as u16.
_FRAME = struct.Struct(">HhHBhH")


def _probe(raw: int, connected: bool, time: datetime | None = None) -> list[Measurement]:
    if not connected or raw == _NO_PROBE_READING:
        return []
    return [PROBE_TEMPERATURE(raw / 100, time)]


class DraginoLht65:
    model = "dragino-lht65"
    params: frozenset[str] = frozenset()

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        expect_port(fport, 2)
        expect_length(payload, 11)
        first, sht_raw, humidity_raw, ext, ext_word, ext_low = _FRAME.unpack(payload)
        sht_temperature = sht_raw / 100
        humidity = (humidity_raw & 0x0FFF) / 10
        ext_type, connected = ext & 0x0F, not ext & 0x80
        if ext & 0x40:
            raise CodecError("unsupported_mode", "datalog poll reply, not a live reading")

        if ext_type == 9:
            at = device_time((ext_word & 0xFFFF) << 16 | ext_low)
            probe = _probe(first - 0x10000 if first & 0x8000 else first, connected, at)
            return [*probe, TEMPERATURE(sht_temperature, at), HUMIDITY(humidity, at)]

        measurements = [
            BATTERY_VOLTAGE((first & 0x3FFF) / 1000),
            TEMPERATURE(sht_temperature),
            HUMIDITY(humidity),
        ]
        match ext_type:
            case 0:
                pass
            case 1:
                measurements += _probe(ext_word, connected)
            case 5 if connected:
                measurements.append(ILLUMINANCE(ext_word & 0xFFFF))
            case 6 if connected:
                measurements.append(ANALOG_VOLTAGE((ext_word & 0xFFFF) / 1000))
            case 5 | 6:
                pass  # sensor cable not connected: its bytes are not a reading
            case 4 | 7 | 8:
                pass  # interrupt and counting sensors: no Smartby quantity (yet)
            case _:
                raise CodecError("unsupported_mode", f"external sensor type {ext_type}")
        return measurements


CODEC = DraginoLht65()
