"""Milesight EM300-TH temperature and humidity sensor.

Records are ``[channel][type][value]`` with little-endian values, after Milesight's decoder
(Milesight-IoT/SensorDecoders, EM_Series/EM300_Series/EM300-TH/EM300-TH_Decoder.js):

    01 75  battery, u8 %             03 67  temperature, int16 / 10 degC
    04 68  humidity, u8 / 2 %RH      20 CE  history: u32 Unix time, int16 temp / 10,
                                            u8 humidity / 2, 1 reserved byte
    FF xx  device information sent after join (versions, serial, class): no measurements

A record's length is implied by its type, so after an unknown type the rest of the payload
cannot be located: the whole payload is rejected rather than half-decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.codecs._binary import Reader
from shared.telemetry.codecs.quantities import BATTERY, HUMIDITY, TEMPERATURE, device_time

# Device-information records (channel 0xFF): type -> value length.
_INFO_LENGTHS = {0x01: 1, 0x09: 2, 0x0A: 2, 0x0B: 1, 0x0F: 1, 0x16: 8, 0xFE: 1, 0xFF: 2}


class MilesightEm300Th:
    model = "milesight-em300-th"

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        if not payload:
            raise CodecError("too_short", "empty payload")
        reader = Reader(payload, "little")
        measurements: list[Measurement] = []
        while reader.remaining:
            channel, kind = reader.take(2)
            match channel, kind:
                case 0x01, 0x75:
                    measurements.append(BATTERY(reader.uint(1)))
                case 0x03, 0x67:
                    measurements.append(TEMPERATURE(reader.sint(2) / 10))
                case 0x04, 0x68:
                    measurements.append(HUMIDITY(reader.uint(1) / 2))
                case 0x20, 0xCE:
                    at = device_time(reader.uint(4))
                    measurements.append(TEMPERATURE(reader.sint(2) / 10, at))
                    measurements.append(HUMIDITY(reader.uint(1) / 2, at))
                    reader.take(1)  # reserved
                case 0xFF, _ if kind in _INFO_LENGTHS:
                    reader.take(_INFO_LENGTHS[kind])
                case _:
                    raise CodecError(
                        "unknown_record",
                        f"unknown record {channel:02x} {kind:02x} at offset {reader.position - 2}",
                    )
        return measurements


CODEC = MilesightEm300Th()
