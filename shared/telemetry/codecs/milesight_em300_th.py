"""Milesight EM300-TH temperature and humidity sensor.

Records are ``[channel][type][value]`` with little-endian values, after Milesight's decoder
(Milesight-IoT/SensorDecoders, EM_Series/EM300_Series/EM300-TH/EM300-TH_Decoder.js):

    01 75  battery, u8 %             03 67  temperature, int16 / 10 degC
    04 68  humidity, u8 / 2 %RH      20 CE  history: u32 Unix time, int16 temp / 10,
                                            u8 humidity / 2, 1 reserved byte
    FF xx  device information sent after join (versions, serial, class): no measurements
    FE xx  replies to configuration downlinks (intervals, alarms, calibration), also sent
           as FF xx: no measurements

A record's length is implied by its type, so after an unknown type the rest of the payload
cannot be located: the whole payload is rejected rather than half-decoded (`RecordFormat`).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from shared.telemetry.codecs import Measurement
from shared.telemetry.codecs._binary import RecordFormat
from shared.telemetry.codecs.quantities import BATTERY, HUMIDITY, TEMPERATURE, device_time


def _history(unix_time: int, temperature: int, humidity: int) -> list[Measurement]:
    at = device_time(unix_time)
    return [TEMPERATURE(temperature / 10, at), HUMIDITY(humidity / 2, at)]


#: Value lengths of the record types that carry no measurement, by type (after FF or FE).
_DEVICE_INFORMATION = {0x01: 1, 0x09: 2, 0x0A: 2, 0x0B: 1, 0x0F: 1, 0x16: 8, 0xFE: 1, 0xFF: 2}
_DOWNLINK_REPLIES = {
    0x02: 2, 0x03: 2, 0x06: 9, 0x10: 1, 0x27: 1, 0x28: 1, 0x68: 1, 0x69: 1, 0x6A: 3, 0x6D: 1,
    0x79: 6, 0xEA: 3,
}

_FORMAT = RecordFormat(
    2,  # channel and type
    {
        0x0175: (struct.Struct("<B"), lambda raw: [BATTERY(raw)]),
        0x0367: (struct.Struct("<h"), lambda raw: [TEMPERATURE(raw / 10)]),
        0x0468: (struct.Struct("<B"), lambda raw: [HUMIDITY(raw / 2)]),
        0x20CE: (struct.Struct("<IhBx"), _history),  # the last byte is reserved
    },
    {
        # Device information sent after join (FF xx): versions, serial, class...
        **{0xFF00 | kind: size for kind, size in _DEVICE_INFORMATION.items()},
        # Replies to configuration downlinks (FE xx or FF xx): intervals, alarms, calibration.
        **{channel | kind: size
           for channel in (0xFE00, 0xFF00) for kind, size in _DOWNLINK_REPLIES.items()},
    },
)


class MilesightEm300Th:
    model = "milesight-em300-th"
    params: frozenset[str] = frozenset()

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        return _FORMAT.decode(payload)


CODEC = MilesightEm300Th()
