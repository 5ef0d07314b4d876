"""Replaying the quarantine over HTTP once the cause is fixed, on both stores."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from tests.conftest import auth
from tests.support.uplinks import encrypt, ttn_uplink

EM300 = "24e124136b502217"
IP_SENSOR = "0004a30b001c2b3d"
KEY = "2b7e151628aed2a6abf7158809cf4f3c"
WRONG_KEY = "000102030405060708090a0b0c0d0e0f"
DEV_ADDR = "260B1A2C"
PAYLOAD = bytes.fromhex("01755c03679cff04687b")  # battery, -10.0 °C, 61.5 %RH


@pytest.fixture
def sandefjord(make_tenant):
    return make_tenant("sandefjord")


def _register(client, tenant, dev_eui, body):
    response = client.put(f"/api/tenants/sandefjord/devices/{dev_eui}", json=body,
                          headers=auth(tenant.keys["tenant-admin"]))
    assert response.status_code in (200, 201), response.text


def _em300(client, tenant, key=KEY):
    _register(client, tenant, EM300, {"model": "milesight-em300-th", "name": "Skolegården",
                                      "appSKey": key})


def _post_uplink(client, tenant, fcnt, minute):
    message = ttn_uplink(EM300, DEV_ADDR, fcnt, encrypt(PAYLOAD, KEY, DEV_ADDR, fcnt),
                         f"2026-11-22T10:{minute:02d}:00Z")
    return client.post("/api/tenants/sandefjord/ingest/ttn", json=message,
                       headers=auth(tenant.keys["ingest"]))


def _replay(client, tenant, body, key="tenant-admin"):
    return client.post("/api/tenants/sandefjord/quarantine/replay", json=body,
                       headers=auth(tenant.keys[key]))


def _quarantine(client, tenant):
    response = client.get("/api/tenants/sandefjord/quarantine",
                          headers=auth(tenant.keys["tenant-admin"]))
    assert response.status_code == 200
    return response.json()


def _temperatures(client, tenant, dev_eui):
    response = client.get(
        f"/api/tenants/sandefjord/devices/{dev_eui}/observations",
        params={"from": "2026-11-22T00:00:00Z", "to": "2026-11-23T00:00:00Z",
                "quantity": "temperature"},
        headers=auth(tenant.keys["read"]),
    )
    assert response.status_code == 200, response.text
    return [(item["time"], item["value"]) for item in response.json()["items"]]


def test_uplinks_of_a_device_registered_late_are_replayed_in_order(client, sandefjord):
    for fcnt in (3, 1, 2):  # the network server forwarded them before anyone registered it
        assert _post_uplink(client, sandefjord, fcnt, minute=fcnt).status_code == 422
    assert _quarantine(client, sandefjord)["counts"] == {"unknown_device": 3}
    _em300(client, sandefjord)

    response = _replay(client, sandefjord, {"reason": "unknown_device"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["counts"] == {"accepted": 3}
    assert report["readings"] == 9
    assert _quarantine(client, sandefjord)["counts"] == {}
    assert _temperatures(client, sandefjord, EM300) == [
        (f"2026-11-22T10:0{minute}:00Z", -10.0) for minute in (1, 2, 3)
    ]
    # The device's session continues from the replayed frames.
    assert _post_uplink(client, sandefjord, 3, minute=3).json()["duplicates"] == 1


def test_a_message_decoded_with_a_wrong_key_is_replayed_after_the_key_is_fixed(
    client, sandefjord
):
    _em300(client, sandefjord, key=WRONG_KEY)
    rejected = _post_uplink(client, sandefjord, 1, minute=5).json()
    assert rejected["reason"] == "decode_failed"

    still = _replay(client, sandefjord, {"ids": [rejected["quarantineId"]]}).json()
    assert still["counts"] == {"rejected": 1}
    assert still["items"][0]["quarantineId"] == rejected["quarantineId"]  # the same record
    assert _quarantine(client, sandefjord)["counts"] == {"decode_failed": 1}

    _em300(client, sandefjord, key=KEY)
    fixed = _replay(client, sandefjord, {"ids": [rejected["quarantineId"]]}).json()
    assert fixed["items"] == [{"id": rejected["quarantineId"], "outcome": "accepted",
                               "readings": 3, "reason": None, "detail": None,
                               "quarantineId": None}]
    assert _temperatures(client, sandefjord, EM300) == [("2026-11-22T10:05:00Z", -10.0)]
    assert _quarantine(client, sandefjord)["counts"] == {}


def test_an_ip_device_message_keeps_its_receive_time_through_a_replay(client, sandefjord):
    response = client.post(f"/api/tenants/sandefjord/ingest/device/{IP_SENSOR}",
                           json={"temperature": 4.5}, headers=auth(sandefjord.keys["ingest"]))
    assert response.json()["reason"] == "unknown_device"
    (record,) = _quarantine(client, sandefjord)["items"]
    assert record["uplinkTime"] is not None
    _register(client, sandefjord, IP_SENSOR, {"model": "json", "name": "Havnelageret"})

    assert _replay(client, sandefjord, {"reason": "unknown_device",
                                        "device": IP_SENSOR.upper()}).json()["counts"] == {
        "accepted": 1
    }
    received = datetime.fromisoformat(record["uplinkTime"])
    response = client.get(
        f"/api/tenants/sandefjord/devices/{IP_SENSOR}/observations",
        params={"from": (received - timedelta(hours=1)).isoformat(),
                "to": (received + timedelta(hours=1)).isoformat()},
        headers=auth(sandefjord.keys["read"]),
    )
    (item,) = response.json()["items"]
    stored_ms = received.replace(microsecond=received.microsecond // 1000 * 1000)
    assert datetime.fromisoformat(item["time"]) == stored_ms  # not the time of the replay


def test_a_replayed_message_already_stored_is_a_duplicate_and_leaves(client, sandefjord):
    assert _post_uplink(client, sandefjord, 1, minute=1).status_code == 422
    _em300(client, sandefjord)
    assert _post_uplink(client, sandefjord, 1, minute=1).status_code == 202  # redelivered
    report = _replay(client, sandefjord, {"reason": "unknown_device"}).json()
    assert report["counts"] == {"duplicate": 1}
    assert _quarantine(client, sandefjord)["counts"] == {}


def test_a_backlog_is_replayed_in_order_over_several_calls_and_after_live_frames(
    client, sandefjord
):
    """A device registered late keeps sending before anyone replays its backlog: the frames
    received since have moved its session's 64-frame window past the quarantined ones, which
    are stored all the same (in calls of `limit` records, oldest first)."""
    frames = [
        _post_uplink(client, sandefjord, fcnt, minute=fcnt % 60).json()["quarantineId"]
        for fcnt in range(1, 81)
    ]
    _em300(client, sandefjord)
    for fcnt in range(81, 161):  # live traffic, accepted
        assert _post_uplink(client, sandefjord, fcnt, minute=fcnt % 60).status_code == 202
    first = _replay(client, sandefjord, {"reason": "unknown_device", "limit": 50}).json()
    assert first["counts"] == {"accepted": 50}
    assert {item["id"] for item in first["items"]} == set(frames[:50])  # the oldest first
    second = _replay(client, sandefjord, {"reason": "unknown_device", "limit": 50}).json()
    assert second["counts"] == {"accepted": 30}
    assert _quarantine(client, sandefjord)["counts"] == {}
    # The replayed frames are remembered (sent again, one is a duplicate), without pushing the
    # newest out of the session's memory; an old frame never stored is still refused.
    assert _post_uplink(client, sandefjord, 3, minute=3).json()["duplicates"] == 1
    assert _post_uplink(client, sandefjord, 150, minute=150 % 60).json()["duplicates"] == 1
    other = encrypt(bytes.fromhex("01755a03679cff04687b"), KEY, DEV_ADDR, 81)
    again = client.post("/api/tenants/sandefjord/ingest/ttn",
                        json=ttn_uplink(EM300, DEV_ADDR, 81, other, "2026-11-22T11:21:00Z"),
                        headers=auth(sandefjord.keys["ingest"]))
    assert again.json()["reason"] == "fcnt_regressed"


def test_two_copies_of_a_frame_replayed_from_before_the_window_are_stored_once(
    client, sandefjord
):
    """An IP device's retried envelope (its answer lost) is quarantined twice while the device
    is unregistered; replayed after live traffic moved the window on, it is one reading."""
    from shared.telemetry.envelope import seal_envelope

    aes = bytes(range(32))

    def post(body):
        return client.post(f"/api/tenants/sandefjord/ingest/device/{IP_SENSOR}", json=body,
                           headers=auth(sandefjord.keys["ingest"]))

    first = seal_envelope(b'{"temperature": -25.0}', aes, "sandefjord", IP_SENSOR, 1)
    assert [post(first).json()["reason"] for _ in range(2)] == ["unknown_device"] * 2
    _register(client, sandefjord, IP_SENSOR, {"model": "json", "name": "P", "aesKey": aes.hex()})
    for seq in range(2, 72):
        post(seal_envelope(b'{"temperature": 4.0}', aes, "sandefjord", IP_SENSOR, seq))
    report = _replay(client, sandefjord, {"reason": "unknown_device"}).json()
    assert sorted(report["counts"].items()) == [("accepted", 1), ("duplicate", 1)]


def test_replaying_ids_that_are_gone_says_so(client, sandefjord):
    assert _post_uplink(client, sandefjord, 1, minute=1).status_code == 422
    (record,) = _quarantine(client, sandefjord)["items"]
    _em300(client, sandefjord)
    assert _replay(client, sandefjord, {"ids": [record["id"]]}).json()["counts"] == {
        "accepted": 1
    }
    again = _replay(client, sandefjord, {"ids": [record["id"]]}).json()
    assert again["counts"] == {"not_found": 1}
    assert again["items"][0]["id"] == record["id"]


def test_a_message_for_an_hour_already_full_is_not_replayed_and_says_why(
    client, sandefjord, monkeypatch
):
    from shared.telemetry import ingest

    monkeypatch.setattr(ingest, "MAX_HOUR_READINGS", 3)
    _em300(client, sandefjord)
    assert _post_uplink(client, sandefjord, 1, 5).status_code == 202
    refused = _post_uplink(client, sandefjord, 2, 15)  # 6 readings in hour 10
    assert (refused.status_code, refused.json()["reason"]) == (413, "too_large")
    report = _replay(client, sandefjord, {"ids": [refused.json()["quarantineId"]]}).json()
    [item] = report["items"]
    assert (item["outcome"], item["reason"]) == ("not_replayable", "too_large")
    assert "an hour already full" in item["detail"]


def test_malformed_messages_are_not_replayed(client, sandefjord):
    response = client.post(
        "/api/tenants/sandefjord/ingest/ttn", content=b'{"end_device_ids": ',
        headers=auth(sandefjord.keys["ingest"]) | {"Content-Type": "application/json"},
    )
    quarantine_id = response.json()["quarantineId"]
    report = _replay(client, sandefjord, {"ids": [quarantine_id]}).json()
    assert report["counts"] == {"not_replayable": 1}
    assert report["items"][0]["reason"] == "malformed"
    assert _quarantine(client, sandefjord)["counts"] == {"malformed": 1}


def test_a_message_heard_by_many_gateways_is_kept_whole_and_replayed(client, sandefjord):
    """Every message the API takes (256 KiB by default) is kept whole: a TTN uplink heard
    through Packet Broker by 80 gateways is over 64 KiB."""
    message = ttn_uplink(EM300, DEV_ADDR, 1, encrypt(PAYLOAD, KEY, DEV_ADDR, 1),
                         "2026-11-22T10:01:00Z")
    gateway = message["uplink_message"]["rx_metadata"][0]
    message["uplink_message"]["rx_metadata"] = [
        gateway | {"gateway_ids": {"gateway_id": f"packetbroker-{i}"}, "padding": "x" * 900}
        for i in range(80)
    ]
    posted = client.post("/api/tenants/sandefjord/ingest/ttn", json=message,
                         headers=auth(sandefjord.keys["ingest"]))
    assert posted.status_code == 422 and len(posted.request.content) > 64 * 1024
    (record,) = _quarantine(client, sandefjord)["items"]
    assert record["truncated"] is False
    _em300(client, sandefjord)
    assert _replay(client, sandefjord, {"reason": "unknown_device"}).json()["counts"] == {
        "accepted": 1
    }


def test_a_truncated_message_is_not_replayed(client, sandefjord, platform, monkeypatch):
    from shared.telemetry import quarantine

    monkeypatch.setattr(quarantine, "MAX_KEPT_BYTES", 64 * 1024)  # a body over what is kept
    huge = ttn_uplink(EM300, DEV_ADDR, 1, PAYLOAD, "2026-11-22T10:00:00Z")
    huge["padding"] = base64.b64encode(bytes(70_000)).decode()
    assert client.post("/api/tenants/sandefjord/ingest/ttn", json=huge,
                       headers=auth(sandefjord.keys["ingest"])).status_code == 422
    (record,) = _quarantine(client, sandefjord)["items"]
    assert record["truncated"] is True
    _em300(client, sandefjord)
    report = _replay(client, sandefjord, {"reason": "unknown_device"}).json()
    assert report["items"][0]["outcome"] == "not_replayable"
    assert report["items"][0]["detail"] == "truncated"


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": ["ab" * 16], "reason": "unknown_device"}, {"reason": "malformed"},
     {"ids": []}, {"ids": ["../x"]}, {"reason": "unknown_device", "limit": 501},
     {"reason": "unknown_device", "extra": 1}],
)
def test_a_bad_replay_request_is_a_problem(client, sandefjord, body):
    response = _replay(client, sandefjord, body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_replay_needs_the_tenant_admin_scope(client, sandefjord):
    for scope in ("read", "app", "ingest"):
        assert _replay(client, sandefjord, {"reason": "unknown_device"}, scope).status_code == 403


def test_messages_of_a_device_without_its_tenant_tag_are_replayed_into_the_tenant(
    client, sandefjord, make_tenant, platform
):
    """IoT Hub devices onboarded without the `tenant` twin tag: their messages wait in the
    platform's quarantine until the admin replays each device's into its tenant. Another
    tenant's device is never replayed into this one."""
    from datetime import UTC

    from shared.telemetry.ingest import deliver_from_device
    from tests.conftest import ADMIN_KEY

    drammen = make_tenant("drammen", "3301")
    _register(client, sandefjord, IP_SENSOR, {"model": "json", "name": "Havnelageret"})
    other = "0004a30b001c2b3e"
    client.put(f"/api/tenants/drammen/devices/{other}", json={"model": "json", "name": "Elva"},
               headers=auth(drammen.keys["tenant-admin"]))
    sent = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    platform.ingestor.ingest_routed([
        ("$twin.tags.tenant", deliver_from_device(
            "iothub", b'{"temperature": %d}' % minute, device, sent + timedelta(minutes=minute)
        ))
        for minute, device in ((0, IP_SENSOR.upper()), (10, IP_SENSOR), (20, other))
    ])
    admin = auth(ADMIN_KEY)
    assert client.get("/api/quarantine", headers=admin).json()["counts"] == {"unknown_tenant": 3}

    def replay(body):
        return client.post("/api/quarantine/replay", headers=admin, json=body)

    assert replay({"device": IP_SENSOR, "tenant": "nowhere"}).status_code == 404
    assert replay({"tenant": "sandefjord"}).status_code == 422  # which device, on purpose
    refused = client.post("/api/quarantine/replay", headers=auth(sandefjord.keys["tenant-admin"]),
                          json={"device": IP_SENSOR, "tenant": "sandefjord"})
    assert refused.status_code == 403
    report = replay({"device": IP_SENSOR, "tenant": "sandefjord"}).json()  # either case
    assert report["counts"] == {"accepted": 2}
    assert _temperatures(client, sandefjord, IP_SENSOR) == [
        ("2026-11-22T10:00:00Z", 0.0), ("2026-11-22T10:10:00Z", 10.0)
    ]
    # Drammen's device, even listed by id, stays where Drammen's admin will find it.
    (left,) = client.get("/api/quarantine", headers=admin).json()["items"]
    report = replay({"ids": [left["id"]], "tenant": "sandefjord"}).json()
    assert report["counts"] == {"not_replayable": 1}
    assert "not registered in sandefjord" in report["items"][0]["detail"]
    assert _quarantine(client, sandefjord)["counts"] == {}
    assert client.get("/api/quarantine", headers=admin).json()["counts"] == {"unknown_tenant": 1}
    assert replay({"ids": [left["id"]], "tenant": "drammen"}).json()["counts"] == {"accepted": 1}


def test_a_replay_goes_on_past_records_refused_again(client, sandefjord):
    """Records refused again keep their place (the oldest): `continuation` passes them."""
    for fcnt in range(1, 4):
        assert _post_uplink(client, sandefjord, fcnt, minute=fcnt).status_code == 422
    _em300(client, sandefjord, key=WRONG_KEY)  # registered, with the wrong key: decode fails
    first = _replay(client, sandefjord, {"reason": "unknown_device", "limit": 2}).json()
    assert first["counts"] == {"rejected": 2} and first["continuation"]
    rest = _replay(client, sandefjord, {"reason": "unknown_device", "limit": 2,
                                        "continuation": first["continuation"]}).json()
    assert rest["counts"] == {"rejected": 1} and rest["continuation"] is None


def test_a_frame_the_session_refused_is_judged_by_its_window_when_replayed(client, sandefjord):
    """A captured frame sent in again with a cut payload is `fcnt_replayed`; once its counter
    has left the window, replaying that reason must not store it."""
    _em300(client, sandefjord)
    for fcnt in range(1, 11):
        assert _post_uplink(client, sandefjord, fcnt, minute=fcnt).status_code == 202
    cut = encrypt(PAYLOAD, KEY, DEV_ADDR, 5)[:7]
    forged = client.post("/api/tenants/sandefjord/ingest/ttn",
                         json=ttn_uplink(EM300, DEV_ADDR, 5, cut, "2026-11-20T03:00:00Z"),
                         headers=auth(sandefjord.keys["ingest"]))
    assert forged.json()["reason"] == "fcnt_replayed"
    for fcnt in range(11, 101):
        assert _post_uplink(client, sandefjord, fcnt, minute=fcnt % 60).status_code == 202
    report = _replay(client, sandefjord, {"reason": "fcnt_replayed"}).json()
    assert report["counts"] == {"rejected": 1}
    assert report["items"][0]["reason"] == "fcnt_regressed"


def test_a_parser_that_fails_on_a_record_leaves_it_and_replays_the_others(
    client, sandefjord, monkeypatch
):
    import shared.telemetry.uplinks as uplinks

    for fcnt in (1, 2):  # before the device is registered: unknown_device
        assert _post_uplink(client, sandefjord, fcnt, fcnt).status_code == 422
    _em300(client, sandefjord)
    parse_ttn = uplinks.parse_ttn

    def fails_on_the_first(raw):
        if json.loads(raw)["uplink_message"]["f_cnt"] == 1:
            raise RuntimeError("a parser bug")
        return parse_ttn(raw)

    monkeypatch.setattr(uplinks, "parse_ttn", fails_on_the_first)
    response = _replay(client, sandefjord, {"reason": "unknown_device"})
    assert response.status_code == 200, response.text
    first, second = response.json()["items"]
    assert (first["outcome"], first["reason"]) == ("not_replayable", "internal_error")
    assert first["detail"] == "the ttn parser failed: RuntimeError"
    assert second["outcome"] == "accepted"
    assert _quarantine(client, sandefjord)["counts"] == {"unknown_device": 1}
