"""Merging observations into an hour document: one frame heard through two network servers
is one reading, even when both copies reach the hour (two batches on two hosts that passed the
session's check at once) or two copies of the hour are merged, while other frames with equal
values stay two readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.telemetry.codecs import get_codec
from shared.telemetry.observations import normalise
from shared.telemetry.series import (
    SAME_FRAME_WINDOW_MS,
    group_by_bucket,
    merge_bucket,
    merge_observations,
)
from shared.telemetry.uplinks import Uplink

RECEIVED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DEVICE = {"id": "24e124136b502217", "model": "milesight-em300-th", "medium": "air"}
PAYLOAD = bytes.fromhex("01755c03679cff04687b")


def _group(source: str, fcnt: int, after_ms: int):
    uplink = Uplink(source, DEVICE["id"], RECEIVED + timedelta(milliseconds=after_ms), PAYLOAD,
                    True, 85, fcnt, 0x260B1A2C)
    measurements = get_codec(DEVICE["model"]).decode(PAYLOAD, 85, {})
    [group] = group_by_bucket(normalise("sandefjord", DEVICE, uplink, measurements)).values()
    return group


def test_one_frame_from_two_network_servers_is_one_reading_in_the_hour():
    bucket: dict = {}
    assert merge_observations(bucket, _group("ttn", 7, 0)) == 3
    assert merge_observations(bucket, _group("chirpstack", 7, 850)) == 0
    assert len(bucket["up"]) == 1


def test_the_same_values_in_another_frame_or_long_after_are_readings_of_their_own():
    bucket: dict = {}
    merge_observations(bucket, _group("ttn", 7, 0))
    assert merge_observations(bucket, _group("chirpstack", 8, 850)) == 3  # another counter
    assert merge_observations(bucket, _group("ttn", 7, 1_000)) == 3  # the same network again
    assert merge_observations(bucket, _group("chirpstack", 7, SAME_FRAME_WINDOW_MS + 2_000)) == 3
    assert len(bucket["up"]) == 4


def test_two_copies_of_an_hour_hold_a_frame_from_two_network_servers_once():
    """A device deleted and registered again: its old hour was sealed with TTN's copy of a
    frame, and ChirpStack's copy opened the new registration's hour."""
    sealed: dict = {}
    merge_observations(sealed, _group("ttn", 7, 0))
    reopened: dict = {}
    merge_observations(reopened, _group("chirpstack", 7, 400))
    merge_observations(reopened, _group("chirpstack", 8, 60_000))  # the same values, FCnt 8
    merged = merge_bucket(sealed, reopened)
    assert sorted(uplink["f"] for uplink in merged["up"].values()) == [7, 8]
    assert [len(series["v"]) for series in merged["q"].values()] == [2, 2, 2]


def test_a_page_position_comes_back_to_the_millisecond_past_2038():
    """Else the next page starts a millisecond before the last reading, which comes again
    with the same position: a client following `continuation` would never finish."""
    from shared.telemetry.series import _decode_cursor, _encode_cursor

    time = datetime(2039, 8, 24, 8, 54, 32, 943000, tzinfo=UTC)
    assert _decode_cursor(_encode_cursor(time, "temperature")) == (time, "temperature")
