"""The network servers' webhook JSON, parsed into `Uplink`s (or set aside with a reason)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shared.telemetry.uplinks import (
    MAX_RX_METADATA,
    Ignored,
    MalformedUplink,
    Uplink,
    parse_chirpstack,
    parse_device_body,
    parse_ttn,
    reparse,
)
from tests.support.uplinks import chirpstack_up, ttn_uplink

DEV_EUI = "A84041000181C8D1"
PAYLOAD = bytes.fromhex("cbb8086602b70101a97fff")


def _ttn(**changes: Any) -> dict[str, Any]:
    message = ttn_uplink(DEV_EUI, "260B1A2C", 7, PAYLOAD, "2026-11-22T10:00:00.123456789Z")
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = message
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[key]
        else:
            target[key] = value
    return message


def _malformed(parse: Any, raw: bytes, *args: Any) -> MalformedUplink:
    with pytest.raises(MalformedUplink) as raised:
        parse(raw, *args)
    return raised.value


def test_a_ttn_uplink_becomes_an_uplink() -> None:
    uplink = parse_ttn(orjson.dumps(_ttn()))
    assert uplink == Uplink(
        source="ttn",
        dev_eui="a84041000181c8d1",
        received=datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC),  # ns cut to µs
        payload=PAYLOAD,
        lorawan=True,
        fport=85,
        fcnt=7,
        dev_addr=0x260B1A2C,
        rssi=-97.0,  # the stronger of the two gateways
        snr=7.25,
        gateways=2,
    )


def test_ttn_omits_zero_fields_and_may_time_only_the_message() -> None:
    message = _ttn(uplink_message__f_cnt=None, uplink_message__rx_metadata=None,
                   uplink_message__received_at=None, received_at="2026-11-22T12:00:00+02:00")
    uplink = parse_ttn(orjson.dumps(message))
    assert isinstance(uplink, Uplink)
    assert (uplink.fport, uplink.fcnt, uplink.payload, uplink.gateways) == (85, 0, PAYLOAD, 0)
    assert uplink.received == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-22t10:00:00.5z", datetime(2026, 11, 22, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
    ids=["lower-case", "leap-second"],
)
def test_every_rfc_3339_time_is_read(text: str, instant: datetime) -> None:
    uplink = parse_ttn(orjson.dumps(_ttn(uplink_message__received_at=text)))
    assert isinstance(uplink, Uplink) and uplink.received == instant


@pytest.mark.parametrize(
    "changes",
    [
        {"uplink_message__f_port": None, "uplink_message__frm_payload": None},  # empty frame
        {"uplink_message__f_port": None},  # FPort 0: MAC commands only
        {"uplink_message__frm_payload": None},
    ],
)
def test_ttn_frames_without_application_data_are_ignored(changes: dict[str, Any]) -> None:
    assert parse_ttn(orjson.dumps(_ttn(**changes))) == Ignored("ttn", "no_application_payload")


def test_the_consoles_simulated_uplinks_are_ignored() -> None:
    # The Things Stack's "Simulate uplink" posts the webhook with `"simulated": true`; it is
    # a test of the integration, not a reading, and its FCnt is usually 0.
    message = _ttn(uplink_message__f_cnt=None, simulated=True)
    assert parse_ttn(orjson.dumps(message)) == Ignored("ttn", "simulated")


def test_gateways_without_rssi_do_not_count_as_the_best_and_snr_defaults_to_zero() -> None:
    gateways = [{"gateway_ids": {"gateway_id": "a"}}, {"rssi": -120}, {"rssi": -90.5}]
    uplink = parse_ttn(orjson.dumps(_ttn(uplink_message__rx_metadata=gateways)))
    assert isinstance(uplink, Uplink)
    assert (uplink.rssi, uplink.snr, uplink.gateways) == (-90.5, 0.0, 3)


def test_only_the_first_gateways_are_weighed() -> None:
    gateways = [{"rssi": -100, "snr": 1.0}] * MAX_RX_METADATA + [{"rssi": -30, "snr": 9.0}]
    uplink = parse_ttn(orjson.dumps(_ttn(uplink_message__rx_metadata=gateways)))
    assert isinstance(uplink, Uplink)
    assert (uplink.rssi, uplink.gateways) == (-100.0, MAX_RX_METADATA)


@pytest.mark.parametrize("kind", ["join_accept", "downlink_ack", "location_solved"])
def test_other_ttn_messages_are_ignored(kind: str) -> None:
    message = _ttn(uplink_message=None)
    message[kind] = {"session_key_id": "AXA"}
    assert parse_ttn(orjson.dumps(message)) == Ignored("ttn", kind)


@pytest.mark.parametrize(
    ("raw", "reason", "says"),
    [
        (b'{"end_device_ids": ', "malformed", "not JSON"),
        (b"[1, 2]", "malformed", "Expected `object`"),
        (orjson.dumps(_ttn(end_device_ids=None)), "malformed", "end_device_ids"),
        (orjson.dumps(_ttn(end_device_ids=[])), "malformed", "end_device_ids"),
        (orjson.dumps(_ttn(uplink_message=None)), "malformed", "no uplink_message"),
        (orjson.dumps(_ttn(uplink_message="x")), "malformed", "uplink_message"),
        (orjson.dumps(_ttn(end_device_ids__dev_eui="A84041")), "malformed", "DevEUI"),
        (orjson.dumps(_ttn(end_device_ids__dev_addr="XYZ")), "malformed", "DevAddr"),
        (orjson.dumps(_ttn(uplink_message__f_port=256)), "malformed", "f_port"),
        (orjson.dumps(_ttn(uplink_message__f_port=True)), "malformed", "f_port"),
        (orjson.dumps(_ttn(uplink_message__f_cnt=-1)), "malformed", "f_cnt"),
        (orjson.dumps(_ttn(uplink_message__f_cnt="7")), "malformed", "f_cnt"),
        (orjson.dumps(_ttn(uplink_message__f_cnt=2**32)), "malformed", "f_cnt"),
        (orjson.dumps(_ttn(uplink_message__frm_payload="not base64!")), "malformed", "base64"),
        (orjson.dumps(_ttn(uplink_message__frm_payload=base64.b64encode(bytes(257)).decode())),
         "too_large", "frm_payload"),
        (orjson.dumps(_ttn(uplink_message__rx_metadata={"rssi": -90})), "malformed",
         "rx_metadata"),
        (orjson.dumps(_ttn(uplink_message__rx_metadata=[{"rssi": "strong"}])), "malformed",
         "rssi"),
        (orjson.dumps(_ttn(uplink_message__received_at=None, received_at=None)), "malformed",
         "received_at"),
        (orjson.dumps(_ttn(uplink_message__received_at="2026-11-22T10:00:00")), "malformed",
         "time zone"),
        (orjson.dumps(_ttn(uplink_message__received_at="yesterday")), "malformed", "RFC 3339"),
        (orjson.dumps(_ttn()).replace(b"A84041", b"A84\xff41"), "malformed", "not UTF-8"),
    ],
)
def test_a_bad_ttn_message_is_malformed_with_a_reason(raw: bytes, reason: str, says: str) -> None:
    error = _malformed(parse_ttn, raw)
    assert error.reason == reason
    assert says in error.detail


def test_a_chirpstack_up_event_becomes_an_uplink() -> None:
    event = chirpstack_up(DEV_EUI, "260b1a2c", 9, PAYLOAD, "2026-11-22T10:00:00.5Z")
    uplink = parse_chirpstack(orjson.dumps(event), "up")
    assert uplink == Uplink(
        source="chirpstack",
        dev_eui="a84041000181c8d1",
        received=datetime(2026, 11, 22, 10, 0, 0, 500000, tzinfo=UTC),
        payload=PAYLOAD,
        lorawan=True,
        fport=2,
        fcnt=9,
        dev_addr=0x260B1A2C,
        rssi=-104.0,
        snr=2.8,
        gateways=1,
    )


def test_chirpstack_omits_defaults() -> None:
    event = chirpstack_up(DEV_EUI, "260b1a2c", 0, PAYLOAD, "2026-11-22T10:00:00Z")
    for omitted in ("fCnt", "rxInfo"):
        event.pop(omitted, None)
    uplink = parse_chirpstack(orjson.dumps(event), "up")
    assert isinstance(uplink, Uplink)
    assert (uplink.fport, uplink.fcnt, uplink.payload, uplink.gateways) == (2, 0, PAYLOAD, 0)


@pytest.mark.parametrize("omitted", [("fPort", "data"), ("fPort",), ("data",)])
def test_chirpstack_frames_without_application_data_are_ignored(omitted: tuple[str, ...]) -> None:
    event = chirpstack_up(DEV_EUI, "260b1a2c", 4, PAYLOAD, "2026-11-22T10:00:00Z")
    for name in omitted:
        event.pop(name)
    ignored = Ignored("chirpstack", "no_application_payload")
    assert parse_chirpstack(orjson.dumps(event), "up") == ignored


def test_other_chirpstack_events_are_ignored_but_must_name_a_device() -> None:
    join = {"deviceInfo": {"devEui": DEV_EUI.lower()}, "devAddr": "260b1a2c"}
    assert parse_chirpstack(orjson.dumps(join), "join") == Ignored("chirpstack", "join")
    assert _malformed(parse_chirpstack, b'{"deviceInfo": {}}', "status").reason == "malformed"


def test_event_types_a_newer_chirpstack_adds_are_ignored_unread(caplog) -> None:
    with caplog.at_level("INFO"):
        ignored = parse_chirpstack(b"not even JSON", "uplink-v5")
    assert ignored == Ignored("chirpstack", "unknown_event")
    assert "'uplink-v5' is not one Smartby knows" in caplog.text  # a mistyped URL shows


def test_an_event_type_in_capitals_is_the_event() -> None:
    """A hand-typed integration URL (`?event=UP`) must not drop every uplink unseen."""
    event = chirpstack_up(DEV_EUI, "260b1a2c", 4, PAYLOAD, "2026-11-22T10:00:00Z")
    assert parse_chirpstack(orjson.dumps(event), "UP") == parse_chirpstack(
        orjson.dumps(event), "up"
    )


def test_a_chirpstack_string_that_is_not_utf8_is_malformed() -> None:
    event = chirpstack_up(DEV_EUI, "260b1a2c", 9, PAYLOAD, "2026-11-22T10:00:00Z")
    data = base64.b64encode(PAYLOAD)
    raw = orjson.dumps(event).replace(data, b"\xe9" + data[1:])
    error = _malformed(parse_chirpstack, raw, "up")
    assert (error.reason, error.detail) == ("malformed", "the JSON is not UTF-8")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"deviceInfo": None}, "deviceInfo"),
        ({"fCnt": 1.5}, "fCnt"),
        ({"fPort": -1}, "fPort"),
        ({"data": 17}, "data"),
        ({"time": None}, "time"),
    ],
)
def test_a_bad_chirpstack_event_is_malformed(change: dict[str, Any], says: str) -> None:
    event = chirpstack_up(DEV_EUI, "260b1a2c", 9, PAYLOAD, "2026-11-22T10:00:00Z")
    for key, value in change.items():
        if value is None:
            del event[key]
        else:
            event[key] = value
    error = _malformed(parse_chirpstack, orjson.dumps(event), "up")
    assert error.reason == "malformed"
    assert says in error.detail


def test_a_quarantined_message_is_parsed_again_as_its_entry_point_parsed_it() -> None:
    ttn = orjson.dumps(_ttn())
    assert reparse(ttn, "ttn", None, None) == parse_ttn(ttn)
    chirpstack = orjson.dumps(chirpstack_up(DEV_EUI, "260b1a2c", 9, PAYLOAD, "2026-11-22T10:00Z"))
    assert reparse(chirpstack, "chirpstack", None, None) == parse_chirpstack(chirpstack, "up")
    received = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    body = b'{"temperature": 4.5}'
    for source in ("http", "iothub"):
        assert reparse(body, source, DEV_EUI.lower(), received) == parse_device_body(
            body, DEV_EUI.lower(), received, source
        )


@pytest.mark.parametrize(
    ("raw", "source", "device", "received"),
    [
        (b'{"temperature": 4.5}', "http", None, None),  # no device, no receive time recorded
        (b'{"temperature": 4.5}', "carrier-pigeon", DEV_EUI, datetime(2026, 1, 1, tzinfo=UTC)),
        (orjson.dumps({**_ttn(uplink_message=None), "join_accept": {}}), "ttn", None, None),
    ],
)
def test_what_cannot_be_parsed_again_as_an_uplink_is_malformed(
    raw: bytes, source: str, device: str | None, received: datetime | None
) -> None:
    assert _malformed(reparse, raw, source, device, received).reason == "malformed"


def test_a_parser_bug_is_the_delivery_outcome_not_a_crash(caplog):
    """One message must not fail its batch, even when our parser has a bug."""
    from shared.telemetry.ingest import deliver

    def broken(raw: bytes) -> None:
        raise KeyError("rxInfo")

    delivery = deliver("chirpstack", b"{}", broken)
    assert isinstance(delivery.parsed, MalformedUplink)
    assert delivery.parsed.reason == "internal_error"
    assert delivery.parsed.detail == "the chirpstack parser failed: KeyError"
    assert "the chirpstack parser failed" in caplog.text
