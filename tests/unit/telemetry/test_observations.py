"""Normalising a codec's measurements into observations, and their CloudEvents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.telemetry.codecs import CodecError, get_codec
from shared.telemetry.observations import (
    MAX_CLOCK_AHEAD,
    event,
    from_unix_ms,
    normalise,
    smart_data_model,
    unix_ms,
)
from shared.telemetry.uplinks import Uplink

RECEIVED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DEVICE = {"id": "24e124136b502217", "model": "milesight-em300-th", "medium": "water",
          "area": "goksjo", "location": {"lat": 59.17, "lon": 10.17}}
UPLINK = Uplink("ttn", "24e124136b502217", RECEIVED, b"", True, 85, 9, 0x260B1A2C, -97.0, 7.25)


def _decode(hex_payload: str):
    measurements = get_codec("milesight-em300-th").decode(bytes.fromhex(hex_payload), 85, {})
    return normalise("sandefjord", DEVICE, UPLINK, measurements)


def test_an_uplink_is_one_observation_at_the_network_receive_time() -> None:
    [observation] = _decode("01755c03679cff04687b")
    assert observation.time == RECEIVED
    assert observation.iso_time == "2026-11-22T10:00:00Z"
    assert observation.epoch_ms == int(RECEIVED.timestamp() * 1000)
    assert observation.readings == [
        {"quantity": "battery", "value": 92.0, "unit": "%EL", "medium": None},
        {"quantity": "temperature", "value": -10.0, "unit": "Cel", "medium": "air"},
        {"quantity": "humidity", "value": 61.5, "unit": "%RH", "medium": "air"},
    ]
    assert (observation.area, observation.lat, observation.fcnt) == ("goksjo", 59.17, 9)


def test_device_timed_history_becomes_an_observation_per_instant() -> None:
    # A live battery record, then a history record stamped 2026-11-22T09:00:00Z by the device.
    history = int(datetime(2026, 11, 22, 9, tzinfo=UTC).timestamp()).to_bytes(4, "little")
    past, live = _decode("01755c" + "20ce" + history.hex() + "9cff7b00")  # in time order
    assert (live.iso_time, [r["quantity"] for r in live.readings]) == (
        "2026-11-22T10:00:00Z", ["battery"]
    )
    assert (past.iso_time, [(r["quantity"], r["value"]) for r in past.readings]) == (
        "2026-11-22T09:00:00Z", [("temperature", -10.0), ("humidity", 61.5)]
    )
    assert event(live)["id"] != event(past)["id"]  # one event per instant, each its own id


@pytest.mark.parametrize(("ahead", "accepted"), [(0, True), (600, True), (601, False)])
def test_a_device_clock_may_run_ten_minutes_ahead_of_the_network(ahead: int, accepted: bool):
    stamp = int(RECEIVED.timestamp()) + ahead
    payload = "20ce" + stamp.to_bytes(4, "little").hex() + "9cff7b00"
    if accepted:
        [observation] = _decode(payload)
        assert observation.time == datetime.fromtimestamp(stamp, UTC)
    else:
        with pytest.raises(CodecError, match="more than 0:10:00 after the network") as raised:
            _decode(payload)
        assert raised.value.reason == "out_of_range"


def test_a_device_clock_ahead_of_a_network_clock_ahead_is_not_taken_past_smartbys():
    """Each within its ten minutes, together twenty: a reading from the future would hold
    /latest, and fall outside the default query window, for that long."""
    received = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=9)
    stamp = int((received + timedelta(minutes=9)).timestamp())
    payload = bytes.fromhex("20ce" + stamp.to_bytes(4, "little").hex() + "9cff7b00")
    uplink = UPLINK._replace(received=received)
    measurements = get_codec("milesight-em300-th").decode(payload, 85, {})
    with pytest.raises(CodecError, match="or ahead of Smartby's clock") as raised:
        normalise("sandefjord", DEVICE, uplink, measurements)
    assert raised.value.reason == "out_of_range"
    stamp -= int(MAX_CLOCK_AHEAD.total_seconds())  # nine minutes ahead of Smartby's: taken
    payload = bytes.fromhex("20ce" + stamp.to_bytes(4, "little").hex() + "9cff7b00")
    measurements = get_codec("milesight-em300-th").decode(payload, 85, {})
    assert normalise("sandefjord", DEVICE, uplink, measurements)


@pytest.mark.parametrize("year", [2026, 2039, 2197, 9999])
def test_unix_milliseconds_are_exact_in_every_year(year: int):
    # A float timestamp times 1000 is a millisecond short for this time of 2039.
    time = datetime(year, 8, 24, 8, 54, 32, 943000, tzinfo=UTC)
    assert unix_ms(time) % 1000 == 943
    assert from_unix_ms(unix_ms(time)) == time


def test_an_uplink_without_measurements_has_no_observation() -> None:
    assert _decode("ff0bff") == []  # device information after a join (FF 0B: power on)


def test_the_event_id_is_the_same_for_a_redelivery() -> None:
    [first] = _decode("01755c03679cff04687b")
    [again] = _decode("01755c03679cff04687b")
    assert event(first)["id"] == event(again)["id"]
    assert event(first)["source"] == "/tenants/sandefjord/devices/24e124136b502217"


def _json_observations(body: bytes, source: str = "http", received: datetime = RECEIVED):
    uplink = Uplink(source, "0004a30b001c2b3d", received, body, False, None, None, None, None,
                    None)
    measurements = get_codec("json").decode(body, 0, {})
    return normalise("sandefjord", {"id": "0004a30b001c2b3d", "medium": "air"}, uplink,
                     measurements)


def test_two_messages_with_the_same_device_time_are_two_events() -> None:
    [temperature] = _json_observations(b'{"temperature": 4, "time": "2026-11-22T09:00:00Z"}')
    [humidity] = _json_observations(b'{"humidity": 80, "time": "2026-11-22T09:00:00Z"}')
    assert temperature.time == humidity.time
    assert event(temperature)["id"] != event(humidity)["id"]


def test_one_frame_from_two_network_servers_is_one_event() -> None:
    """Each network server stamps the frame with its own receive time."""
    payload = bytes.fromhex("01755c03679cff04687b")
    measurements = get_codec("milesight-em300-th").decode(payload, 85, {})
    [via_ttn] = normalise("sandefjord", DEVICE, UPLINK._replace(payload=payload), measurements)
    later = UPLINK._replace(source="chirpstack", payload=payload,
                            received=RECEIVED.replace(microsecond=80_000))
    [via_chirpstack] = normalise("sandefjord", DEVICE, later, measurements)
    assert via_ttn.time != via_chirpstack.time
    assert event(via_ttn)["id"] == event(via_chirpstack)["id"]
    assert event(via_ttn)["id"] != event(normalise(
        "sandefjord", DEVICE, UPLINK._replace(payload=payload, fcnt=10), measurements)[0])["id"]


def test_a_water_pressure_probe_is_not_the_atmospheric_pressure_of_the_sdm_view() -> None:
    """DL-PR26 measures the water column: WaterQualityObserved has no attribute for it, and
    it must not pass for a weather station's atmosphericPressure."""
    water = {"device": "70b3d57050011a2b", "medium": "water", "values": {
        "pressure": {"value": 14709.975, "unit": "Pa", "medium": "water"},
        "liquid_temperature": {"value": 4.2, "unit": "Cel", "medium": "water"},
    }}
    entity = smart_data_model("drammen", water)
    assert entity["type"] == "WaterQualityObserved"
    assert entity["temperature"] == 4.2 and "atmosphericPressure" not in entity
    air = {"device": "a81758fffe0312ab", "medium": "air", "values": {
        "pressure": {"value": 101_325.0, "unit": "Pa", "medium": "air"},
    }}
    assert smart_data_model("drammen", air)["atmosphericPressure"] == 1013.25


def test_the_sdm_view_carries_only_the_readings_of_its_entitys_medium() -> None:
    """An LHT65 with its probe in the soil is a weather station for its air readings only,
    and a room sensor's 21 degrees are not the weather."""
    soil = {"device": "a84041000181c8d1", "medium": "soil", "values": {
        "temperature": {"value": 5.0, "unit": "Cel", "medium": "air"},
        "probe_temperature": {"value": 12.0, "unit": "Cel", "medium": "soil"},
    }}
    entity = smart_data_model("drammen", soil)
    assert (entity["type"], entity["temperature"]) == ("WeatherObserved", 5.0)
    indoor = {"device": "a81758fffe0312ac", "medium": "indoor", "values": {
        "temperature": {"value": 21.0, "unit": "Cel", "medium": "indoor"},
        "humidity": {"value": 40.0, "unit": "%RH", "medium": "indoor"},
    }}
    entity = smart_data_model("drammen", indoor)
    assert entity["type"] == "IndoorEnvironmentObserved"
    assert (entity["temperature"], entity["relativeHumidity"]) == (21.0, 0.4)
