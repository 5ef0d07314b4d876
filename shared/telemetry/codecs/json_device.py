"""IP devices that report JSON instead of a binary LoRaWAN payload.

The payload (the opened AES-GCM envelope) is one UTF-8 JSON document in one of two shapes:

- an object of quantity names to numbers, with an optional ISO 8601 ``time`` for all of them:
  ``{"temperature": 4.2, "humidity": 80, "time": "2026-11-22T10:00:00Z"}``
- a SenML-style list (an RFC 8428 subset: fields n, u, v, t, bt):
  ``[{"n": "temperature", "u": "Cel", "v": 4.2}]``. A unit, if given, must be the quantity's
  SenML unit. ``bt`` + ``t`` is an absolute Unix time; SenML relative times (below 2**28 s)
  need a receive time the codec does not have and are rejected.

Names are Smartby quantity names (``quantities.SPECS``), which also give unit and range.
Bounded input: at most MAX_PAYLOAD_BYTES bytes and MAX_ENTRIES measurements.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.codecs.quantities import SPECS, checked_time, device_time, is_number

MAX_PAYLOAD_BYTES = 8192
MAX_ENTRIES = 64
_SENML_FIELDS = frozenset({"n", "u", "v", "t", "bt"})
_SENML_RELATIVE_LIMIT = 2**28  # RFC 8428 section 4.5.3


def _measurement(
    name: object, value: object, time: datetime | None, unit: object = None
) -> Measurement:
    spec = SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise CodecError("unknown_quantity", f"unknown quantity {name!r:.60}")
    if unit is not None and unit != spec.unit:
        raise CodecError("unit_mismatch", f"{spec.quantity} is in {spec.unit}, not {unit!r:.20}")
    if not is_number(value):
        raise CodecError("bad_value", f"{spec.quantity} value {value!r:.40} is not a number")
    return spec(value, time)


def _iso_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise CodecError("bad_time", "time must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CodecError("bad_time", f"time {value!r:.40} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise CodecError("bad_time", f"time {value!r:.40} has no UTC offset")
    return checked_time(moment)


def _from_object(document: dict[str, Any]) -> list[Measurement]:
    if len(document) - ("time" in document) > MAX_ENTRIES:
        raise CodecError("too_large", f"more than {MAX_ENTRIES} measurements")
    time = _iso_time(document["time"]) if "time" in document else None
    return [_measurement(name, value, time) for name, value in document.items() if name != "time"]


def _senml_time(seconds: float) -> datetime | None:
    if seconds == 0:
        return None  # SenML: no time given means "now", i.e. the receive time
    if seconds < _SENML_RELATIVE_LIMIT:
        raise CodecError("bad_time", f"relative SenML time {seconds:g} s is not supported")
    return device_time(seconds)


def _from_senml(records: list[Any]) -> list[Measurement]:
    if len(records) > MAX_ENTRIES:
        raise CodecError("too_large", f"more than {MAX_ENTRIES} measurements")
    base_time: float = 0
    measurements = []
    for record in records:
        if not isinstance(record, dict):
            raise CodecError("bad_json", "SenML records must be objects")
        if unsupported := record.keys() - _SENML_FIELDS:
            raise CodecError("bad_json", f"unsupported SenML field(s) {sorted(unsupported)}")
        times = [record.get("bt", base_time), record.get("t", 0)]
        if not all(is_number(t) for t in times):
            raise CodecError("bad_time", "SenML bt and t must be numbers")
        base_time = times[0]
        time = _senml_time(base_time + times[1])
        measurements.append(_measurement(record.get("n"), record.get("v"), time, record.get("u")))
    return measurements


class JsonDeviceCodec:
    model = "json"
    params: frozenset[str] = frozenset()

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise CodecError("too_large", f"payload over {MAX_PAYLOAD_BYTES} bytes")
        try:
            document = json.loads(payload.decode("utf-8-sig"))  # a leading BOM is allowed
        except (ValueError, RecursionError) as error:  # includes UnicodeDecodeError
            raise CodecError("bad_json", f"not a UTF-8 JSON document: {error}") from None
        if isinstance(document, dict):
            measurements = _from_object(document)
        elif isinstance(document, list):
            measurements = _from_senml(document)
        else:
            raise CodecError("bad_json", "expected a JSON object or a SenML list")
        if not measurements:
            raise CodecError("empty", "no measurements in payload")
        return measurements


CODEC = JsonDeviceCodec()
