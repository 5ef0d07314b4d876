"""JSON codec for IP devices: the object and SenML-list shapes, and everything it refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.telemetry.codecs import CodecError, Measurement, get_codec
from shared.telemetry.codecs.json_device import MAX_ENTRIES, MAX_PAYLOAD_BYTES

CODEC = get_codec("json")


def decode(document: object) -> list[Measurement]:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return CODEC.decode(raw, 0, {})


def rejection(document: object) -> str:
    with pytest.raises(CodecError) as caught:
        decode(document)
    return caught.value.reason


def test_json_object_maps_names_to_units_and_shares_its_time() -> None:
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    document = {"temperature": 4.2, "humidity": 80, "time": "2026-11-22T10:00:00Z"}
    assert decode(document) == [
        Measurement("temperature", 4.2, "Cel", time=at),
        Measurement("humidity", 80.0, "%RH", time=at),
    ]


def test_json_time_with_offset_is_normalised_to_utc() -> None:
    measurement = decode({"temperature": 1, "time": "2026-11-22T11:00:00+01:00"})[0]
    assert measurement.time == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_json_without_time_leaves_time_to_ingest() -> None:
    assert decode({"battery_voltage": 3.6}) == [Measurement("battery_voltage", 3.6, "V")]


def test_json_decodes_negative_temperature() -> None:
    assert decode({"temperature": -10.0}) == [Measurement("temperature", -10.0, "Cel")]


def test_json_after_a_byte_order_mark_is_decoded() -> None:
    """PowerShell's and .NET's UTF-8 writers put a BOM first."""
    assert decode(b'\xef\xbb\xbf{"temperature": -1.5}') == [
        Measurement("temperature", -1.5, "Cel")
    ]


def test_json_probe_quantities_are_marked_as_probe() -> None:
    assert decode({"probe_temperature": 3.5})[0].probe


def test_senml_list_decodes_with_units_and_base_time() -> None:
    document = [
        {"bt": 1795000000, "n": "temperature", "u": "Cel", "v": 4.2},
        {"n": "humidity", "v": 80, "t": 60},
        {"n": "water_leak", "u": "/", "v": 0},
    ]
    base = datetime.fromtimestamp(1795000000, UTC)
    assert decode(document) == [
        Measurement("temperature", 4.2, "Cel", time=base),
        Measurement("humidity", 80.0, "%RH", time=datetime.fromtimestamp(1795000060, UTC)),
        Measurement("water_leak", 0.0, "/", time=base),
    ]


def test_senml_record_without_time_leaves_time_to_ingest() -> None:
    assert decode([{"n": "co2", "u": "ppm", "v": 612}]) == [Measurement("co2", 612.0, "ppm")]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"temperature": 4.2, "colour": 3}, "unknown_quantity"),
        ([{"n": "Temperature", "v": 4.2}], "unknown_quantity"),
        ({"temperature": "4.2"}, "bad_value"),
        ({"temperature": True}, "bad_value"),
        ({"temperature": None}, "bad_value"),
        ({"temperature": [4.2]}, "bad_value"),
        (b'{"temperature": NaN}', "bad_value"),
        (b'{"temperature": Infinity}', "bad_value"),
        ({"temperature": 10**400}, "bad_value"),
        ({"humidity": 120}, "out_of_range"),
        ({"temperature": -60}, "out_of_range"),
        ([{"n": "temperature", "u": "degF", "v": 40}], "unit_mismatch"),
        ({}, "empty"),
        ([], "empty"),
        ({"time": "2026-11-22T10:00:00Z"}, "empty"),
    ],
)
def test_json_rejects_bad_measurements(document: object, reason: str) -> None:
    assert rejection(document) == reason


@pytest.mark.parametrize(
    "document",
    [
        42,
        "temperature",
        None,
        b"\xff\xfe{}",  # not UTF-8
        b'{"temperature": 4.2',  # truncated
        b"[" * 5000,  # nesting deep enough to exhaust the parser's recursion
        [4.2],  # SenML records must be objects
        [{"bn": "urn:dev:1:", "n": "temperature", "v": 4.2}],  # unsupported SenML field
    ],
)
def test_json_rejects_documents_that_are_not_an_object_or_senml_list(document: object) -> None:
    assert rejection(document) == "bad_json"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"temperature": 4.2, "time": "2026-11-22T10:00:00"}, "bad_time"),  # no UTC offset
        ({"temperature": 4.2, "time": "yesterday"}, "bad_time"),
        ({"temperature": 4.2, "time": 1795000000}, "bad_time"),
        ({"temperature": 4.2, "time": "2001-01-01T00:00:00Z"}, "out_of_range"),  # unset clock
        # Readable, but past the calendar once in UTC (datetime's OverflowError).
        ({"temperature": 4.2, "time": "9999-12-31T23:59:59-01:00"}, "out_of_range"),
        ({"temperature": 4.2, "time": "0001-01-01T00:30:00+01:00"}, "out_of_range"),
        ([{"n": "temperature", "v": 4.2, "t": -60}], "bad_time"),  # SenML relative time
        ([{"n": "temperature", "v": 4.2, "t": "now"}], "bad_time"),
    ],
)
def test_json_rejects_times_it_cannot_place(document: object, reason: str) -> None:
    assert rejection(document) == reason


def test_json_rejects_more_than_the_entry_bound() -> None:
    document = [{"n": "temperature", "v": 1}] * (MAX_ENTRIES + 1)
    assert rejection(document) == "too_large"
    assert len(decode(document[:MAX_ENTRIES])) == MAX_ENTRIES


def test_json_rejects_payloads_over_the_byte_bound() -> None:
    padded = b'{"temperature": 4.2}' + b" " * MAX_PAYLOAD_BYTES
    assert rejection(padded) == "too_large"
