"""Encrypted uplinks through the HTTP API, as TTN and ChirpStack deliver them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.api.routes.telemetry import LATEST_FIELDS, LatestState
from shared.store.tenancy import TenantContainer
from shared.telemetry.envelope import seal_envelope
from shared.telemetry.observations import smart_data_model
from tests.conftest import auth
from tests.support.uplinks import chirpstack_up, encrypt, ttn_uplink

EM300 = "24e124136b502217"
LHT65 = "a84041000181c8d1"
APP_S_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
OTHER_KEY = "000102030405060708090a0b0c0d0e0f"
DEV_ADDR = "260B1A2C"
# Milesight EM300-TH: battery 92 %, temperature -10.0 °C (int16 LE), humidity 61.5 %RH.
EM300_PAYLOAD = bytes.fromhex("01755c03679cff04687b")
# Dragino LHT65: BatV 3.0 V, SHT 21.5 °C, 55.5 %RH, DS18B20 probe 4.25 °C.
LHT65_PAYLOAD = bytes.fromhex("cbb8086602b701" + "01a9" + "7fff")
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def sandefjord(client, make_tenant):
    tenant = make_tenant("sandefjord")
    admin = auth(tenant.keys["tenant-admin"])
    response = client.put(
        f"/api/tenants/sandefjord/devices/{EM300}",
        json={"model": "milesight-em300-th", "name": "Skolegården", "area": "sentrum",
              "location": {"lat": 59.1312, "lon": 10.2166}, "appSKey": APP_S_KEY},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    response = client.put(
        f"/api/tenants/sandefjord/devices/{LHT65}",
        json={"model": "dragino-lht65", "name": "Goksjø badeplass", "area": "goksjo",
              "medium": "water", "location": {"lat": 59.17, "lon": 10.17}},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return tenant


def _post_ttn(client, tenant, message):
    return client.post(
        "/api/tenants/sandefjord/ingest/ttn", json=message, headers=auth(tenant.keys["ingest"])
    )


def _observations(client, tenant, dev_eui, **params):
    response = client.get(
        f"/api/tenants/sandefjord/devices/{dev_eui}/observations",
        params={"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", **params},
        headers=auth(tenant.keys["read"]),
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_encrypted_ttn_uplink_becomes_observations(client, sandefjord):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 42)
    message = ttn_uplink(EM300, DEV_ADDR, 42, frm, "2026-11-22T10:15:30.123456789Z")
    response = _post_ttn(client, sandefjord, message)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "readings": 3}
    items = _observations(client, sandefjord, EM300)
    assert {(i["quantity"], i["value"], i["unit"]) for i in items} == {
        ("battery", 92.0, "%EL"), ("temperature", -10.0, "Cel"), ("humidity", 61.5, "%RH"),
    }
    assert {i["time"] for i in items} == {"2026-11-22T10:15:30.123000Z"}


def test_the_same_uplink_twice_stores_one_reading(client, sandefjord, platform):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 7)
    message = ttn_uplink(EM300, DEV_ADDR, 7, frm, "2026-11-22T10:00:00Z")
    assert _post_ttn(client, sandefjord, message).json()["accepted"] == 1
    state = platform.store.container("latest").read("sandefjord", EM300)
    again = _post_ttn(client, sandefjord, message)
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 1, "ignored": 0, "readings": 0}
    assert len(_observations(client, sandefjord, EM300)) == 3
    assert platform.bus.published("observations") == 1
    # Nothing new, nothing written: the device's state document was not even replaced.
    assert platform.store.container("latest").read("sandefjord", EM300)["_etag"] == state["_etag"]


def test_each_uplink_is_published_as_one_cloudevent_with_its_readings(client, sandefjord,
                                                                       platform):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 11)
    _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 11, frm, "2026-11-22T10:30:00Z"))
    [event] = platform.bus.recent("observations")
    assert event["specversion"] == "1.0"
    assert event["type"] == "no.smartby.observation.v1"
    assert event["partitionkey"] == f"sandefjord/{EM300}"
    assert event["time"] == event["data"]["time"] == "2026-11-22T10:30:00Z"
    data = event["data"]
    assert data["area"] == "sentrum"
    assert data["location"] == {"lat": 59.1312, "lon": 10.2166}
    assert data["provenance"] == {"source": "ttn", "fCnt": 11, "rssi": -97.0, "snr": 7.25}
    assert {(r["quantity"], r["value"], r["unit"], r["medium"]) for r in data["readings"]} == {
        ("battery", 92.0, "%EL", None), ("temperature", -10.0, "Cel", "air"),
        ("humidity", 61.5, "%RH", "air"),
    }


def test_uplink_heard_by_two_network_servers_stores_one_reading(client, sandefjord):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 8)
    first = ttn_uplink(EM300, DEV_ADDR, 8, frm, "2026-11-22T11:00:00.100Z")
    second = ttn_uplink(EM300, DEV_ADDR, 8, frm, "2026-11-22T11:00:00.350Z", rssi=-120)
    assert _post_ttn(client, sandefjord, first).json()["accepted"] == 1
    assert _post_ttn(client, sandefjord, second).json()["duplicates"] == 1
    assert len(_observations(client, sandefjord, EM300)) == 3


def test_uplink_with_the_wrong_key_is_quarantined_with_a_reason(client, sandefjord):
    frm = encrypt(EM300_PAYLOAD, OTHER_KEY, DEV_ADDR, 9)
    response = _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 9, frm,
                                                        "2026-11-22T12:00:00Z"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["reason"] == "decode_failed"
    assert "key" in problem["detail"]
    listing = client.get("/api/tenants/sandefjord/quarantine",
                         headers=auth(sandefjord.keys["tenant-admin"])).json()
    assert listing["counts"] == {"decode_failed": 1}
    record = listing["items"][0]
    assert record["id"] == problem["quarantineId"]
    assert record["device"] == EM300
    assert '"frm_payload"' in record["message"]
    assert APP_S_KEY not in str(listing) and OTHER_KEY not in str(listing)
    assert _observations(client, sandefjord, EM300) == []


def test_an_ingest_key_learns_nothing_of_what_a_keyed_payload_decrypted_to(
    client, sandefjord, caplog
):
    """AES-CTR: a frame with bits flipped decrypts to the reading with the same bits flipped.
    Were the answer to quote the out-of-range value, the sender could undo the flip and read
    the device; or send zeros and read the keystream, to forge readings with it."""
    real = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 11)
    flipped = real[:6] + bytes([real[6] ^ 0x80]) + real[7:]  # temperature's high byte
    zeros = bytes(len(real))
    for frm in (flipped, zeros):
        response = _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 11, frm,
                                                            "2026-11-22T12:00:00Z"))
        assert response.status_code == 422
        told = response.json()["detail"]
        assert told.startswith("the payload decrypted with the device's key does not decode")
        assert not any(ch.isdigit() for ch in told)
    logged = [record.getMessage() for record in caplog.records]
    assert not any("outside" in line or "record type" in line for line in logged)
    listing = client.get("/api/tenants/sandefjord/quarantine",
                         headers=auth(sandefjord.keys["tenant-admin"])).json()
    assert any("Cel outside" in item["detail"] for item in listing["items"])  # admins see why
    real_response = _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 11, real,
                                                             "2026-11-22T12:00:00Z"))
    assert real_response.status_code == 202


def test_replayed_fcnt_with_another_payload_is_quarantined(client, sandefjord):
    original = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 10)
    forged = encrypt(bytes.fromhex("0175640367c800"), APP_S_KEY, DEV_ADDR, 10)
    _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 10, original, "2026-11-22T12:00Z"))
    response = _post_ttn(
        client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 10, forged, "2026-11-22T12:10:00Z")
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "fcnt_replayed"


def test_regressed_fcnt_is_quarantined_until_the_session_is_reset(client, sandefjord):
    for fcnt in (500, 501):
        frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, fcnt)
        _post_ttn(client, sandefjord,
                  ttn_uplink(EM300, DEV_ADDR, fcnt, frm, f"2026-11-22T13:0{fcnt - 500}:00Z"))
    old = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 3)
    message = ttn_uplink(EM300, DEV_ADDR, 3, old, "2026-11-22T13:05:00Z")
    assert _post_ttn(client, sandefjord, message).json()["reason"] == "fcnt_regressed"
    reset = client.delete(f"/api/tenants/sandefjord/devices/{EM300}/session",
                          headers=auth(sandefjord.keys["tenant-admin"]))
    assert reset.status_code == 204
    assert _post_ttn(client, sandefjord, message).status_code == 202


def test_late_redelivery_inside_the_window_is_accepted(client, sandefjord):
    for fcnt in (20, 22, 21):  # 21 arrives after 22, as at-least-once delivery allows
        frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, fcnt)
        response = _post_ttn(client, sandefjord, ttn_uplink(
            EM300, DEV_ADDR, fcnt, frm, f"2026-11-22T14:{fcnt}:00Z"))
        assert response.json()["accepted"] == 1, fcnt


def test_rejoin_with_a_new_devaddr_starts_a_new_session(client, sandefjord):
    def lht65(dev_addr: str, fcnt: int, payload: bytes, clock: str):
        return _post_ttn(client, sandefjord, ttn_uplink(
            LHT65, dev_addr, fcnt, payload, f"2026-11-22T{clock}Z", f_port=2))

    assert lht65(DEV_ADDR, 900, LHT65_PAYLOAD, "15:00:00").json()["accepted"] == 1
    # A frame that does not decode starts no session: no message can wipe the counters.
    junk = lht65("DEADBEEF", 1, b"\x00" * 3, "15:05:00")
    assert junk.json()["reason"] == "decode_failed"
    assert lht65(DEV_ADDR, 900, LHT65_PAYLOAD, "15:06:00").json()["duplicates"] == 1
    # The device joined again: another DevAddr, its counter from 1.
    assert lht65("260B9999", 1, LHT65_PAYLOAD, "15:10:00").json()["accepted"] == 1


def test_an_abp_device_keeps_its_devaddr_until_its_session_is_reset(client, sandefjord):
    """A device whose AppSKey Smartby holds is ABP (an OTAA join would give it a key Smartby
    does not have), and ABP addresses are fixed: another one is forged or misconfigured."""
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 900)
    _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 900, frm, "2026-11-22T15:00Z"))
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, "260B9999", 1)
    moved = ttn_uplink(EM300, "260B9999", 1, frm, "2026-11-22T15:10:00Z")
    refused = _post_ttn(client, sandefjord, moved)
    assert refused.status_code == 409
    assert refused.json()["reason"] == "devaddr_changed"
    reset = client.delete(f"/api/tenants/sandefjord/devices/{EM300}/session",
                          headers=auth(sandefjord.keys["tenant-admin"]))
    assert reset.status_code == 204
    assert _post_ttn(client, sandefjord, moved).status_code == 202


def test_chirpstack_uplink_from_unencrypted_device_with_probe(client, sandefjord):
    message = chirpstack_up(LHT65, "01ab23cd", 3, LHT65_PAYLOAD, "2026-11-22T09:00:00Z")
    response = client.post(
        "/api/tenants/sandefjord/ingest/chirpstack?event=up",
        json=message, headers=auth(sandefjord.keys["ingest"]),
    )
    assert response.status_code == 202, response.text
    latest = client.get("/api/tenants/sandefjord/latest?area=goksjo",
                        headers=auth(sandefjord.keys["read"])).json()["items"]
    assert len(latest) == 1
    values = latest[0]["values"]
    assert values["probe_temperature"]["value"] == 4.25
    assert values["probe_temperature"]["medium"] == "water"
    assert values["temperature"]["medium"] == "air"
    sdm = client.get("/api/tenants/sandefjord/latest?area=goksjo&view=sdm",
                     headers=auth(sandefjord.keys["read"])).json()["items"][0]
    assert sdm["type"] == "WaterQualityObserved"
    assert sdm["temperature"] == 4.25
    assert sdm["location"] == {"type": "Point", "coordinates": [10.17, 59.17]}


@pytest.mark.parametrize("event", ["join", "status", "ack", "txack", "log"])
def test_other_chirpstack_events_are_accepted_and_ignored(client, sandefjord, event):
    response = client.post(
        f"/api/tenants/sandefjord/ingest/chirpstack?event={event}",
        json={"deviceInfo": {"devEui": LHT65}, "time": "2026-11-22T09:00:00Z"},
        headers=auth(sandefjord.keys["ingest"]),
    )
    assert response.status_code == 202
    assert response.json()["ignored"] == 1


def test_malformed_json_is_quarantined_and_answered_400(client, sandefjord):
    response = client.post(
        "/api/tenants/sandefjord/ingest/ttn", content=b'{"end_device_ids": ',
        headers=auth(sandefjord.keys["ingest"]) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["instance"] == "/api/tenants/sandefjord/ingest/ttn"
    counts = client.get("/api/tenants/sandefjord/quarantine",
                        headers=auth(sandefjord.keys["tenant-admin"])).json()["counts"]
    assert counts == {"malformed": 1}


def test_unknown_device_is_quarantined(client, sandefjord):
    message = ttn_uplink("70b3d57ed0000001", DEV_ADDR, 1, EM300_PAYLOAD, "2026-11-22T10:00Z")
    response = _post_ttn(client, sandefjord, message)
    assert response.status_code == 422
    assert response.json()["reason"] == "unknown_device"


def test_oversized_frm_payload_is_quarantined_as_too_large(client, sandefjord):
    message = ttn_uplink(EM300, DEV_ADDR, 1, bytes(300), "2026-11-22T10:00Z")
    response = _post_ttn(client, sandefjord, message)
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"


def test_ingest_needs_the_ingest_scope(client, sandefjord):
    message = ttn_uplink(EM300, DEV_ADDR, 1, EM300_PAYLOAD, "2026-11-22T10:00Z")
    for scope in ("read", "app", "tenant-admin"):
        response = client.post("/api/tenants/sandefjord/ingest/ttn", json=message,
                               headers=auth(sandefjord.keys[scope]))
        assert response.status_code == 403, scope


def test_device_keys_are_never_returned(client, sandefjord, platform):
    device = client.get(f"/api/tenants/sandefjord/devices/{EM300}",
                        headers=auth(sandefjord.keys["tenant-admin"])).json()
    assert device["hasAppSKey"] is True
    assert "appSKey" not in device and APP_S_KEY not in str(device)
    stored = platform.store.container("devices").read("sandefjord", EM300)
    assert APP_S_KEY not in str(stored).lower()


def test_observations_page_through_with_continuation(client, sandefjord):
    for minute in range(5):
        fcnt = 100 + minute
        frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, fcnt)
        _post_ttn(client, sandefjord,
                  ttn_uplink(EM300, DEV_ADDR, fcnt, frm, f"2026-11-22T16:0{minute}:00Z"))
    pages = _pages(client, sandefjord, EM300, {"from": "2026-11-22T00:00:00Z",
                                               "to": "2026-11-23T00:00:00Z",
                                               "quantity": "temperature", "limit": 2})
    seen = [item["time"] for page in pages for item in page]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 5


def _pages(client, tenant, dev_eui, params, after_each=None) -> list[list[dict]]:
    """Every page of a device's observations, following `continuation` to the end."""
    pages, token = [], None
    while True:
        response = client.get(
            f"/api/tenants/sandefjord/devices/{dev_eui}/observations",
            params={**params, **({"continuation": token} if token else {})},
            headers=auth(tenant.keys["read"]),
        )
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        if after_each:
            after_each()
        token = response.json()["continuation"]
        if not token:
            return pages


def test_every_quantity_can_be_asked_for(client, sandefjord):
    """Quantity names are the codecs' (`co2` has a digit); others are refused, listed."""
    client.put("/api/tenants/sandefjord/devices/0004a30b001c2b3d",
               json={"model": "json", "name": "Klasserom 2B", "medium": "indoor"},
               headers=auth(sandefjord.keys["tenant-admin"]))
    posted = client.post("/api/tenants/sandefjord/ingest/device/0004a30b001c2b3d",
                         json={"co2": 850, "temperature": 21.5, "time": "2026-11-22T10:00:00Z"},
                         headers=auth(sandefjord.keys["ingest"]))
    assert posted.status_code == 202, posted.text
    items = _observations(client, sandefjord, "0004a30b001c2b3d", quantity="co2")
    assert [(i["quantity"], i["value"], i["unit"]) for i in items] == [("co2", 850.0, "ppm")]
    refused = client.get(f"/api/tenants/sandefjord/devices/{EM300}/observations",
                         params={"quantity": "kryptonite"}, headers=auth(sandefjord.keys["read"]))
    assert refused.status_code == 422 and "co2" in refused.text


def test_a_long_range_of_hours_without_the_quantity_is_read_a_bounded_stretch_at_a_time(
    client, sandefjord, platform, monkeypatch
):
    """A quantity absent from every stored hour: each page reads at most MAX_PAGE_HOURS hours,
    answers what it found (here nothing) and resumes after them."""
    from shared.store.tenancy import TenantContainer
    from shared.telemetry import series

    monkeypatch.setattr(series, "MAX_PAGE_HOURS", 4)
    for hour in range(10):
        fcnt = 300 + hour
        frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, fcnt)
        _post_ttn(client, sandefjord,
                  ttn_uplink(EM300, DEV_ADDR, fcnt, frm, f"2026-11-21T{hour:02}:30:00Z"))
    read_documents = []
    query = TenantContainer.query

    def counted(self, *args, **kwargs):
        page = query(self, *args, **kwargs)
        read_documents.extend(page.items)
        return page

    monkeypatch.setattr(TenantContainer, "query", counted)

    def at_most_a_pages_hours_read():
        assert len(read_documents) <= 4
        read_documents.clear()

    day = {"from": "2026-11-21T00:00:00Z", "to": "2026-11-22T00:00:00Z"}
    pages = _pages(client, sandefjord, EM300, {**day, "quantity": "co2", "limit": 1},
                   at_most_a_pages_hours_read)
    assert pages == [[], [], []]  # 10 hours, 4 per page

    # The temperatures of those hours, one per page, resume exactly where each page ended.
    monkeypatch.setattr(series, "MAX_PAGE_HOURS", 3)
    pages = _pages(client, sandefjord, EM300, {**day, "quantity": "temperature", "limit": 2})
    times = [item["time"] for page in pages for item in page]
    assert times == [f"2026-11-21T{hour:02}:30:00Z" for hour in range(10)]


IP_SENSORS = ("0004a30b001c2b3d", "0004a30b001c2b3e")


@pytest.fixture
def ip_sensors(client, sandefjord):
    for dev_eui in IP_SENSORS:
        response = client.put(
            f"/api/tenants/sandefjord/devices/{dev_eui}",
            json={"model": "json", "name": dev_eui}, headers=auth(sandefjord.keys["tenant-admin"]),
        )
        assert response.status_code == 201, response.text
    return IP_SENSORS


def _post_device(client, tenant, dev_eui, body):
    return client.post(f"/api/tenants/sandefjord/ingest/device/{dev_eui}", json=body,
                       headers=auth(tenant.keys["ingest"]))


def _quarantine(client, tenant):
    response = client.get("/api/tenants/sandefjord/quarantine",
                          headers=auth(tenant.keys["tenant-admin"]))
    assert response.status_code == 200
    return response.json()


def test_a_received_time_outside_the_calendar_is_malformed_not_a_server_error(client, sandefjord):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 5)
    message = ttn_uplink(EM300, DEV_ADDR, 5, frm, "0001-01-01T00:00:00+01:00")
    response = _post_ttn(client, sandefjord, message)
    assert response.status_code == 400
    assert response.json()["reason"] == "malformed"
    assert "received_at is out of range" in response.json()["detail"]
    assert _quarantine(client, sandefjord)["counts"] == {"malformed": 1}


@pytest.mark.parametrize(
    "window",
    [{"to": "0001-01-01T00:00:00Z"}, {"from": "0001-01-01T00:00:00+01:00"},
     {"from": "9999-12-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"}],
)
def test_observations_far_outside_any_data_are_invalid_input(client, sandefjord, window):
    response = client.get(f"/api/tenants/sandefjord/devices/{EM300}/observations",
                          params=window, headers=auth(sandefjord.keys["read"]))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "from 2000 up to 3000" in response.json()["detail"]


def test_a_device_clock_far_ahead_is_quarantined_and_does_not_become_the_latest(
    client, sandefjord, ip_sensors
):
    sensor = ip_sensors[0]
    ahead = _post_device(client, sandefjord, sensor,
                         {"temperature": 4.5, "time": "2099-01-01T00:00:00Z"})
    assert ahead.status_code == 422
    assert ahead.json()["reason"] == "decode_failed"
    assert "device time 2099-01-01T00:00:00Z is more than 0:10:00 after" in ahead.json()["detail"]
    assert _post_device(client, sandefjord, sensor, {"temperature": 7.0}).status_code == 202
    latest = client.get("/api/tenants/sandefjord/latest",
                        headers=auth(sandefjord.keys["read"])).json()["items"]
    assert [i["values"]["temperature"]["value"] for i in latest if i["device"] == sensor] == [7.0]


def test_the_latest_value_is_the_newest_also_within_one_second(client, sandefjord, ip_sensors):
    """Times without a fraction are written without one (`10:05:00Z`): as text that would
    sort after `10:05:00.5Z`, and the older reading would stay the latest."""
    sensor = ip_sensors[0]
    for value, time in ((1.0, "2026-11-22T10:05:00Z"), (2.0, "2026-11-22T10:05:00.5Z"),
                        (0.5, "2026-11-22T10:04:59.9Z")):
        response = _post_device(client, sandefjord, sensor, {"temperature": value, "time": time})
        assert response.status_code == 202, response.text
    latest = client.get("/api/tenants/sandefjord/latest",
                        headers=auth(sandefjord.keys["read"])).json()["items"]
    [state] = [i for i in latest if i["device"] == sensor]
    assert state["values"]["temperature"]["value"] == 2.0
    assert state["time"] == "2026-11-22T10:05:00.500000Z"


def test_two_devices_rejected_for_the_same_body_are_two_quarantine_records(
    client, sandefjord, ip_sensors
):
    answers = [_post_device(client, sandefjord, dev, {"temperature": 999}) for dev in ip_sensors]
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json()["quarantineId"] != answers[1].json()["quarantineId"]
    records = _quarantine(client, sandefjord)["items"]
    assert sorted(r["device"] for r in records) == sorted(ip_sensors)


def test_session_keys_a_network_server_forwards_are_not_kept_in_the_quarantine(
    client, sandefjord
):
    """The Things Stack forwards the AppSKey when it skips payload crypto."""
    unknown = "70b3d57ed0000001"
    message = ttn_uplink(unknown, DEV_ADDR, 5, encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 5),
                         "2026-11-22T10:00:00Z")
    message["uplink_message"]["app_s_key"] = {"key": APP_S_KEY.upper(), "kek_label": ""}
    response = _post_ttn(client, sandefjord, message)
    assert response.json()["reason"] == "unknown_device"
    listing = client.get("/api/tenants/sandefjord/quarantine",
                         headers=auth(sandefjord.keys["tenant-admin"])).text
    assert APP_S_KEY.upper() not in listing and APP_S_KEY not in listing
    [record] = _quarantine(client, sandefjord)["items"]
    assert '"app_s_key":"[redacted]"' in record["message"]


def test_one_frame_from_two_network_servers_at_once_is_stored_once(
    client, sandefjord, platform, monkeypatch
):
    """TTN and ChirpStack forward the same frame at the same moment: both deliveries pass the
    frame-counter check before either commits, and each stamps its own receive time. The one
    that commits second is judged again, and is a duplicate."""
    import threading

    import orjson

    from shared.telemetry.ingest import Ingestor, deliver
    from shared.telemetry.uplinks import parse_chirpstack, parse_ttn

    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 20)
    deliveries = [
        deliver("ttn", orjson.dumps(ttn_uplink(
            EM300, DEV_ADDR, 20, frm, "2026-11-22T10:00:00.100Z", f_port=85)), parse_ttn),
        deliver("chirpstack", orjson.dumps(chirpstack_up(
            EM300, DEV_ADDR, 20, frm, "2026-11-22T10:00:00.180Z", f_port=85)),
            parse_chirpstack, "up"),
    ]
    both_loaded = threading.Barrier(2)
    read_states = Ingestor._read_states
    reads = []

    def in_step(self, latest, devices):
        states = read_states(self, latest, devices)
        reads.append(devices)
        if len(reads) <= 2:  # the first judgement of each: the second one reads alone
            both_loaded.wait(10)
        return states

    monkeypatch.setattr(Ingestor, "_read_states", in_step)
    results = []
    threads = [
        threading.Thread(target=lambda d=d: results.append(platform.ingestor.ingest(
            "sandefjord", [d]))) for d in deliveries
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted((r.accepted, r.duplicates) for r in results) == [(0, 1), (1, 0)]
    assert len(reads) == 3  # neither saw the other's commit: one was judged again
    assert sum(r.readings for r in results) == 3
    items = _observations(client, sandefjord, EM300)
    assert len(items) == 3 and len({i["time"] for i in items}) == 1
    assert len(platform.bus.recent("observations")) == 1


@pytest.mark.parametrize(
    ("path", "token"),
    [
        (f"devices/{EM300}/observations", b"99999999999999999999|temperature"),  # no such date
        (f"devices/{EM300}/observations", b"9" * 400 + b"|temperature"),
        ("devices", b"99999999999999999999"),  # past SQLite's 64-bit OFFSET
        ("devices", b'[18446744073709551615,"sandefjord","x"]'),  # a sort key past 64 bits
        ("latest", b"-1"),
        ("quarantine", b"not a token"),
    ],
)
def test_a_continuation_token_that_is_not_ours_is_refused(
    client, sandefjord, platform, path, token
):
    import base64

    from shared.store.embedded import EmbeddedStore

    continuation = base64.urlsafe_b64encode(token).decode()
    response = client.get(f"/api/tenants/sandefjord/{path}", params={"continuation": continuation},
                          headers=auth(sandefjord.keys["tenant-admin"]))
    # Observation cursors are Smartby's own; store tokens are the store's, and the local Cosmos
    # server ignores one it cannot read (real Cosmos refuses it, as the embedded store does).
    if "observations" in path or isinstance(platform.store, EmbeddedStore):
        assert response.status_code == 400, response.text
    else:
        assert response.status_code in (200, 400), response.text
    assert response.headers["content-type"].startswith(
        "application/problem+json" if response.status_code >= 400 else "application/json"
    )


def _latest_devices(client, tenant, **params):
    response = client.get("/api/tenants/sandefjord/latest", params=params,
                          headers=auth(tenant.keys["read"]))
    assert response.status_code == 200, response.text
    return [item["device"] for item in response.json()["items"]]


def test_latest_reads_only_what_it_shows_of_a_chatty_devices_state(
    client, sandefjord, platform, monkeypatch
):
    """A state carries its device's session and open hour (megabytes for a chatty device): the
    store is asked for the fields /latest shows, and both views answer as from the whole state."""
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 1)
    assert _post_ttn(client, sandefjord, ttn_uplink(
        EM300, DEV_ADDR, 1, frm, "2026-11-22T10:00:00Z")).status_code == 202
    assert client.post(
        "/api/tenants/sandefjord/ingest/chirpstack?event=up",
        json=chirpstack_up(LHT65, "01ab23cd", 3, LHT65_PAYLOAD, "2026-11-22T09:00:00Z"),
        headers=auth(sandefjord.keys["ingest"]),
    ).status_code == 202
    latest = platform.store.container("latest")
    states = []
    for dev_eui in (EM300, LHT65):  # ordered by device, as /latest lists them
        state = latest.read("sandefjord", dev_eui)
        state["open"]["up"] |= {str(n): {"f": n, "src": "ttn"} for n in range(10_000)}
        state["session"]["seen"] |= {str(n): f"{n:016x}" for n in range(1_000)}
        states.append(latest.upsert(state))
    asked = []
    query = latest.query

    def spy(partition, store_query, **page):
        found = query(partition, store_query, **page)
        asked.append((store_query.fields, found.items))
        return found

    monkeypatch.setattr(latest, "query", spy)
    for view, shown in [
        ("smartby", lambda state: LatestState.model_validate(state).model_dump(mode="json")),
        ("sdm", lambda state: smart_data_model("sandefjord", state)),
    ]:
        response = client.get("/api/tenants/sandefjord/latest", params={"view": view},
                              headers=auth(sandefjord.keys["read"]))
        assert response.status_code == 200, response.text
        assert response.json()["items"] == [shown(state) for state in states]
    assert [fields for fields, _ in asked] == [LATEST_FIELDS, LATEST_FIELDS]
    assert all(doc.keys() <= set(LATEST_FIELDS) for _, docs in asked for doc in docs)
    assert response.json()["items"][1]["temperature"] == 4.25  # the lake's probe, in sdm


def test_a_moved_device_is_listed_in_its_new_area(client, sandefjord):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 1)
    assert _post_ttn(client, sandefjord, ttn_uplink(
        EM300, DEV_ADDR, 1, frm, "2026-11-22T10:00:00Z")).status_code == 202
    assert _latest_devices(client, sandefjord, area="sentrum") == [EM300]
    moved = client.put(
        f"/api/tenants/sandefjord/devices/{EM300}",
        json={"model": "milesight-em300-th", "name": "Stadion", "area": "stadion"},
        headers=auth(sandefjord.keys["tenant-admin"]),
    )
    assert moved.status_code == 200, moved.text
    assert _latest_devices(client, sandefjord, area="sentrum") == []
    assert _latest_devices(client, sandefjord, area="stadion") == [EM300]
    # Ingest goes on from the updated state, and keeps the new description.
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 2)
    assert _post_ttn(client, sandefjord, ttn_uplink(
        EM300, DEV_ADDR, 2, frm, "2026-11-22T10:10:00Z")).json()["readings"] == 3
    [item] = client.get("/api/tenants/sandefjord/latest", params={"area": "stadion"},
                        headers=auth(sandefjord.keys["read"])).json()["items"]
    assert (item["name"], item["location"]) == ("Stadion", None)


def test_a_deleted_device_leaves_the_latest_list_and_keeps_its_history(
    client, sandefjord, platform
):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 1)
    assert _post_ttn(client, sandefjord, ttn_uplink(
        EM300, DEV_ADDR, 1, frm, "2026-11-22T10:00:00Z")).status_code == 202
    admin = auth(sandefjord.keys["tenant-admin"])
    assert client.delete(f"/api/tenants/sandefjord/devices/{EM300}",
                         headers=admin).status_code == 204
    assert EM300 not in _latest_devices(client, sandefjord)
    assert platform.keys.get("sandefjord", f"device-{EM300}-appskey") is None
    # Its open hour went to its hourly document, which expires with the retention.
    bucket = platform.store.container("series").read(
        f"sandefjord|{EM300}|2026-11", f"{EM300}|2026-11-22T10")
    assert bucket is not None and len(bucket["up"]) == 1
    assert client.delete(f"/api/tenants/sandefjord/devices/{EM300}",
                         headers=admin).status_code == 404


def test_a_delete_that_fails_at_the_key_store_can_be_retried(
    client, sandefjord, platform, monkeypatch
):
    from shared.keys import KeyStoreError

    admin = auth(sandefjord.keys["tenant-admin"])
    real_delete = type(platform.keys).delete

    def unavailable(self, tenant, name):
        raise KeyStoreError("Key Vault timed out")

    monkeypatch.setattr(type(platform.keys), "delete", unavailable)
    failed = client.delete(f"/api/tenants/sandefjord/devices/{EM300}", headers=admin)
    assert failed.status_code == 503
    monkeypatch.setattr(type(platform.keys), "delete", real_delete)
    assert client.delete(f"/api/tenants/sandefjord/devices/{EM300}",
                         headers=admin).status_code == 204
    assert platform.keys.get("sandefjord", f"device-{EM300}-appskey") is None


def test_a_device_sending_more_than_an_hours_document_holds_is_quarantined(
    client, sandefjord, ip_sensors, monkeypatch
):
    """An hour of a device's readings is one document, and Cosmos caps documents at 2 MB: a
    device over the hourly limit is refused (413, quarantined), not left to fail the batches of
    every device behind it."""
    from shared.telemetry import ingest

    monkeypatch.setattr(ingest, "MAX_HOUR_READINGS", 5)
    sensor = ip_sensors[0]

    def send(clock: str):
        body = {"temperature": 4.5, "humidity": 80, "time": f"2026-11-22T{clock}:00Z"}
        return _post_device(client, sandefjord, sensor, body)

    assert [send(c).status_code for c in ("10:00", "10:01")] == [202, 202]
    refused = send("10:02")  # 6 readings in hour 10
    assert refused.status_code == 413
    assert refused.json()["reason"] == "too_large"
    assert "more than 5 readings for the hour 2026-11-22T10:00Z" in refused.json()["detail"]
    assert send("11:00").status_code == 202  # a new hour, a new document
    assert _quarantine(client, sandefjord)["counts"] == {"too_large": 1}


AES_SENSOR = "0004a30b001c2b40"
AES_KEY = bytes(range(32))


@pytest.fixture
def aes_sensor(client, sandefjord):
    response = client.put(
        f"/api/tenants/sandefjord/devices/{AES_SENSOR}",
        json={"model": "json", "name": "Pumpestasjon", "aesKey": AES_KEY.hex()},
        headers=auth(sandefjord.keys["tenant-admin"]),
    )
    assert response.status_code == 201, response.text
    return AES_SENSOR


def _sealed(reading: bytes, seq: int) -> dict:
    return seal_envelope(reading, AES_KEY, "sandefjord", AES_SENSOR, seq)


def test_a_keyed_device_is_heard_only_through_its_key(client, sandefjord, aes_sensor):
    """The ingest key is the network server's, not the devices': with it alone, no one can
    pass off clear readings as a keyed device's, by any route."""
    clear_em300 = _post_device(client, sandefjord, EM300, {"temperature": 20.0})
    assert clear_em300.status_code == 422
    assert clear_em300.json()["reason"] == "decrypt_failed"
    assert "AppSKey" in clear_em300.json()["detail"]
    clear_lorawan = ttn_uplink(aes_sensor, DEV_ADDR, 3, b'{"temperature": 12.5}',
                               "2026-11-22T10:00:00Z", f_port=1)
    for response in (
        _post_ttn(client, sandefjord, clear_lorawan),
        client.post("/api/tenants/sandefjord/ingest/chirpstack", params={"event": "up"},
                    json=chirpstack_up(aes_sensor, DEV_ADDR, 3, b'{"temperature": 12.5}',
                                       "2026-11-22T10:00:00Z", f_port=1),
                    headers=auth(sandefjord.keys["ingest"])),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["reason"] == "decrypt_failed"
    assert _observations(client, sandefjord, EM300) == []
    assert _observations(client, sandefjord, aes_sensor) == []


def test_an_envelope_opens_once(client, sandefjord, aes_sensor):
    captured = _sealed(b'{"temperature": -25.0}', 100)
    assert _post_device(client, sandefjord, aes_sensor, captured).json()["accepted"] == 1
    assert _post_device(client, sandefjord, aes_sensor, captured).json()["duplicates"] == 1
    # The same sealed bytes written another way are the same message.
    reordered = dict(reversed(list(captured.items())))
    assert _post_device(client, sandefjord, aes_sensor, reordered).json()["duplicates"] == 1
    # A member the format does not have cannot make it look new.
    padded = _post_device(client, sandefjord, aes_sensor, {**captured, "x": 1})
    assert padded.status_code == 400
    # Nor can time: after the device's window has moved on, the old counter is refused.
    for seq in range(101, 101 + 70):
        fresh = _sealed(b'{"temperature": 4.0}', seq)
        assert _post_device(client, sandefjord, aes_sensor, fresh).status_code == 202
    late = _post_device(client, sandefjord, aes_sensor, captured)
    assert late.status_code == 409
    assert late.json()["reason"] == "fcnt_regressed"
    # And a new seal under a counter already used is a replay, not a new reading.
    reused = _post_device(client, sandefjord, aes_sensor, _sealed(b'{"temperature": 9.0}', 170))
    assert reused.json()["reason"] == "fcnt_replayed"
    values = [i["value"] for i in _observations(client, sandefjord, aes_sensor)]
    assert values.count(-25.0) == 1 and 9.0 not in values


def test_a_device_reset_above_half_the_16_bit_range_is_a_regression_not_a_rollover(
    client, sandefjord
):
    """Network servers forward the full 32-bit FCnt; taking 1 after 40000 for 65537 would
    decrypt with a counter the device never used."""
    for fcnt in (40000, 1):
        frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, fcnt)
        response = _post_ttn(client, sandefjord,
                             ttn_uplink(EM300, DEV_ADDR, fcnt, frm, "2026-11-22T10:00:00Z"))
    assert response.status_code == 409
    assert response.json()["reason"] == "fcnt_regressed"
    assert "DELETE its session" in response.json()["detail"]


def test_a_simulated_uplink_from_the_console_changes_nothing(client, sandefjord):
    def uplink(fcnt: int, clock: str) -> dict:
        return ttn_uplink(LHT65, DEV_ADDR, fcnt, LHT65_PAYLOAD, f"2026-11-22T{clock}Z", f_port=2)

    assert _post_ttn(client, sandefjord, uplink(40000, "10:00:00")).status_code == 202
    simulated = uplink(0, "10:05:00")
    simulated["simulated"] = True
    assert _post_ttn(client, sandefjord, simulated).json() == {
        "accepted": 0, "duplicates": 0, "ignored": 1, "readings": 0,
    }
    assert _post_ttn(client, sandefjord, uplink(40001, "10:10:00")).json()["accepted"] == 1
    assert len({i["time"] for i in _observations(client, sandefjord, LHT65)}) == 2


def test_a_frame_without_application_data_is_ignored_not_quarantined(client, sandefjord):
    message = ttn_uplink(EM300, DEV_ADDR, 5, b"", "2026-11-22T10:00:00Z")
    del message["uplink_message"]["frm_payload"], message["uplink_message"]["f_port"]
    assert _post_ttn(client, sandefjord, message).json()["ignored"] == 1
    assert _quarantine(client, sandefjord)["counts"] == {}


def test_an_event_type_a_newer_chirpstack_adds_is_accepted_and_ignored(client, sandefjord):
    response = client.post("/api/tenants/sandefjord/ingest/chirpstack",
                           params={"event": "uplink-v5"}, content=b'{"new": "shape"}',
                           headers=auth(sandefjord.keys["ingest"]) | JSON)
    assert response.status_code == 202
    assert response.json()["ignored"] == 1


def test_json_nested_past_the_parsers_depth_is_malformed(client, sandefjord):
    body = b'{"end_device_ids":{},"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = client.post("/api/tenants/sandefjord/ingest/ttn", content=body,
                           headers=auth(sandefjord.keys["ingest"]) | JSON)
    assert response.status_code == 400
    assert response.json()["reason"] == "malformed"


def test_a_bad_message_delivered_again_keeps_its_place_in_the_quarantine_listing(
    client, sandefjord
):
    """A listing pages newest first; a redelivered record that moved to the front would be
    missed by a client paging past it."""
    bad = [ttn_uplink(EM300, DEV_ADDR, 70 + n, b"\x01", f"2026-11-22T0{n}:00:00Z")
           for n in range(3)]
    ids = [_post_ttn(client, sandefjord, message).json()["quarantineId"] for message in bad]
    admin = auth(sandefjord.keys["tenant-admin"])
    listing = "/api/tenants/sandefjord/quarantine"
    first = client.get(listing, params={"limit": 2}, headers=admin).json()
    assert _post_ttn(client, sandefjord, bad[0]).json()["quarantineId"] == ids[0]  # again
    rest = client.get(listing, params={"limit": 2, "continuation": first["continuation"]},
                      headers=admin).json()
    seen = [r["id"] for r in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize(
    "params",
    [
        b'{"a": 1e400}',  # JSON has no infinity
        b'{"a": NaN}',
        b'{"wired_inputs": "door_open"}',  # a text, where the codec reads a list
        b'{"wired_input": ["door_open"]}',  # a name the codec does not read
    ],
)
def test_params_a_device_cannot_keep_are_refused_and_leave_no_key_behind(
    client, sandefjord, platform, params
):
    body = (b'{"model": "dragino-lsn50v2-d20", "name": "Pumpehus", "appSKey": "'
            + APP_S_KEY.encode() + b'", "params": ' + params + b"}")
    response = client.put("/api/tenants/sandefjord/devices/0004a30b001a2b3c", content=body,
                          headers=auth(sandefjord.keys["tenant-admin"]) | JSON)
    assert response.status_code == 422, response.text
    assert platform.keys.get("sandefjord", "device-0004a30b001a2b3c-appskey") is None


def test_an_integer_past_64_bits_in_params_is_kept_as_a_number(client, sandefjord):
    body = (b'{"model": "decentlab-dl-pr26", "name": "x", '
            b'"params": {"pmin": 0, "pmax": 1000000000000000000000000000000}}')
    response = client.put("/api/tenants/sandefjord/devices/0004a30b001a2b3c", content=body,
                          headers=auth(sandefjord.keys["tenant-admin"]) | JSON)
    assert response.status_code == 201, response.text  # not a 500 from the store's serialiser
    assert response.json()["params"] == {"pmin": 0, "pmax": 1e30}


def test_a_failed_registration_takes_back_the_keys_it_wrote(client, sandefjord, platform,
                                                              monkeypatch):
    from shared.store import Unavailable
    from shared.store.tenancy import TenantContainer

    def down(self, doc, *suffix):
        raise Unavailable("the store is down")

    monkeypatch.setattr(TenantContainer, "create", down)
    response = client.put("/api/tenants/sandefjord/devices/0004a30b001a2b3c",
                          json={"model": "json", "name": "x", "appSKey": APP_S_KEY},
                          headers=auth(sandefjord.keys["tenant-admin"]))
    assert response.status_code == 503
    assert platform.keys.get("sandefjord", "device-0004a30b001a2b3c-appskey") is None


def test_a_registration_that_landed_despite_a_timeout_keeps_its_keys(
    client, sandefjord, platform, monkeypatch
):
    """A write that timed out may have been stored: its device must not lose its key."""
    from shared.store import Unavailable
    from shared.store.tenancy import TenantContainer

    create = TenantContainer.create

    def landed_then_timed_out(self, doc, *suffix):
        create(self, doc, *suffix)
        raise Unavailable("read timed out")

    monkeypatch.setattr(TenantContainer, "create", landed_then_timed_out)
    response = client.put("/api/tenants/sandefjord/devices/0004a30b001a2b3c",
                          json={"model": "json", "name": "x", "aesKey": "7f" * 32},
                          headers=auth(sandefjord.keys["tenant-admin"]))
    assert response.status_code == 503
    assert platform.keys.get("sandefjord", "device-0004a30b001a2b3c-aeskey") == bytes([0x7F] * 32)


def test_a_key_given_as_null_is_removed(client, sandefjord, platform):
    """A device leaving end-to-end encryption (or an IP device given a LoRaWAN model) drops its
    key; leaving the field out keeps it."""
    url = "/api/tenants/sandefjord/devices/0004a30b001a2b3c"
    admin = auth(sandefjord.keys["tenant-admin"])
    client.put(url, json={"model": "json", "name": "x", "aesKey": "7f" * 32}, headers=admin)
    kept = client.put(url, json={"model": "json", "name": "y"}, headers=admin).json()
    assert kept["hasAesKey"] is True
    removed = client.put(url, json={"model": "json", "name": "y", "aesKey": None}, headers=admin)
    assert removed.status_code == 200 and removed.json()["hasAesKey"] is False
    assert platform.keys.get("sandefjord", "device-0004a30b001a2b3c-aeskey") is None
    clear = client.post("/api/tenants/sandefjord/ingest/device/0004a30b001a2b3c",
                        json={"temperature": 4.5}, headers=auth(sandefjord.keys["ingest"]))
    assert clear.status_code == 202, clear.text


def test_a_gateway_clock_far_off_does_not_time_the_readings(client, sandefjord):
    """ChirpStack times an uplink by its gateway: one whose clock was never set says 2099
    (or 2000). Such a reading would stay the device's latest until 2099."""
    from datetime import UTC, datetime, timedelta

    from tests.support.uplinks import chirpstack_up

    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 50)
    sent = client.post(
        "/api/tenants/sandefjord/ingest/chirpstack", params={"event": "up"},
        json=chirpstack_up(EM300, DEV_ADDR, 50, frm, "2099-01-01T00:00:00Z", f_port=85),
        headers=auth(sandefjord.keys["ingest"]),
    )
    assert sent.status_code == 202, sent.text
    latest = client.get("/api/tenants/sandefjord/latest",
                        headers=auth(sandefjord.keys["read"])).json()["items"]
    [state] = [i for i in latest if i["device"] == EM300]
    stored_at = datetime.fromisoformat(state["time"])
    assert abs(stored_at - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"\r\n", b" \t"])
def test_an_envelope_after_a_bom_or_a_line_break_is_opened(client, sandefjord, aes_sensor, prefix):
    """PowerShell and .NET write a BOM first, some firmware a line break: still an envelope."""
    body = prefix + orjson.dumps(_sealed(b'{"temperature": 3.5}', 7))
    response = client.post(f"/api/tenants/sandefjord/ingest/device/{aes_sensor}", content=body,
                           headers={**auth(sandefjord.keys["ingest"]), **JSON})
    assert response.status_code == 202, response.text
    assert [i["value"] for i in _observations(client, sandefjord, aes_sensor)] == [3.5]


def test_a_reading_is_found_from_the_time_the_latest_state_gives_it(client, sandefjord):
    """The Things Stack stamps nanoseconds; the series keeps milliseconds, and so do /latest
    and the events, so asking for readings from a reading's own time finds it."""
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 1)
    uplink = ttn_uplink(EM300, DEV_ADDR, 1, frm, "2026-11-22T10:05:00.123456789Z")
    assert _post_ttn(client, sandefjord, uplink).status_code == 202
    latest = client.get("/api/tenants/sandefjord/latest",
                        headers=auth(sandefjord.keys["read"])).json()["items"]
    [state] = [i for i in latest if i["device"] == EM300]
    when = state["values"]["temperature"]["time"]
    assert when == state["time"] == "2026-11-22T10:05:00.123000Z"
    found = _observations(client, sandefjord, EM300, quantity="temperature", **{"from": when})
    assert [(i["time"], i["value"]) for i in found] == [(when, -10.0)]


def test_consecutive_windows_share_no_reading(client, sandefjord):
    """`to` is exclusive: walking day by day, a reading at midnight comes once, in its day."""
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 1)
    _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 1, frm, "2026-11-21T00:00:00Z"))
    days = [
        _observations(client, sandefjord, EM300, quantity="temperature",
                      **{"from": f"2026-11-{day}T00:00:00Z", "to": f"2026-11-{day + 1}T00:00:00Z"})
        for day in (20, 21)
    ]
    assert [[i["time"] for i in items] for items in days] == [[], ["2026-11-21T00:00:00Z"]]
    empty = client.get(f"/api/tenants/sandefjord/devices/{EM300}/observations",
                       params={"from": "2026-11-21T00:00:00Z", "to": "2026-11-21T00:00:00Z"},
                       headers=auth(sandefjord.keys["read"]))
    assert empty.status_code == 422
    assert "`from` must be before `to`" in empty.json()["detail"]


def test_hours_written_after_a_retention_change_take_the_new_retention(
    client, sandefjord, platform
):
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 1)
    _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 1, frm, "2026-11-22T10:05:00Z"))
    changed = client.patch("/api/tenants/sandefjord", json={"retentionDays": 30},
                           headers=auth(sandefjord.keys["tenant-admin"]))
    assert changed.status_code == 200, changed.text
    frm = encrypt(EM300_PAYLOAD, APP_S_KEY, DEV_ADDR, 2)
    _post_ttn(client, sandefjord, ttn_uplink(EM300, DEV_ADDR, 2, frm, "2026-11-22T11:05:00Z"))
    series = TenantContainer(platform.store.container("series"), "sandefjord")
    sealed = series.read(f"{EM300}|2026-11-22T10", EM300, "2026-11")  # sealed by the second
    assert sealed["ttl"] == 30 * 86400


def test_the_default_window_holds_a_reading_a_device_clock_stamped_a_little_ahead(
    client, sandefjord, ip_sensors
):
    """Ingest takes device times up to MAX_CLOCK_AHEAD ahead; /latest shows such a reading at
    once, and so do the observations asked for without a window."""
    ahead = datetime.now(UTC) + timedelta(minutes=3)
    posted = _post_device(client, sandefjord, ip_sensors[0],
                          {"temperature": 4.5, "time": ahead.isoformat()})
    assert posted.status_code == 202, posted.text
    response = client.get(f"/api/tenants/sandefjord/devices/{ip_sensors[0]}/observations",
                          headers=auth(sandefjord.keys["read"]))
    assert [i["value"] for i in response.json()["items"]] == [4.5]


def test_the_default_window_is_the_last_24_hours_and_a_400_day_one_ends_now(
    client, sandefjord, ip_sensors
):
    now = datetime.now(UTC)
    early = now - timedelta(hours=23, minutes=55)
    posted = _post_device(client, sandefjord, ip_sensors[0],
                          {"temperature": 1.5, "time": early.isoformat()})
    assert posted.status_code == 202, posted.text
    url = f"/api/tenants/sandefjord/devices/{ip_sensors[0]}/observations"
    response = client.get(url, headers=auth(sandefjord.keys["read"]))
    assert [i["value"] for i in response.json()["items"]] == [1.5]
    since = (now - timedelta(days=399, hours=23, minutes=55)).isoformat()
    response = client.get(url, params={"from": since}, headers=auth(sandefjord.keys["read"]))
    assert response.status_code == 200, response.text
    over = {"from": "2025-01-01T00:00:00Z", "to": "2026-02-05T00:09:00Z"}  # 400 days 9 min
    response = client.get(url, params=over, headers=auth(sandefjord.keys["read"]))
    assert response.status_code == 422, response.text


def test_a_retention_read_that_a_change_overtook_is_not_kept(client, sandefjord, platform,
                                                            monkeypatch):
    """A PATCH that lands while a batch reads the tenant: that read is used once, and the
    next batch reads the new retention, not the old one for a minute."""
    ingestor, tenants = platform.ingestor, platform.tenants
    real_get = type(tenants).get

    def overtaken(self, tenant):
        read = real_get(self, tenant)
        monkeypatch.setattr(type(tenants), "get", real_get)
        changed = client.patch("/api/tenants/sandefjord", json={"retentionDays": 30},
                               headers=auth(sandefjord.keys["tenant-admin"]))
        assert changed.status_code == 200, changed.text
        return read

    ingestor.forget_retention("sandefjord")
    monkeypatch.setattr(type(tenants), "get", overtaken)
    assert ingestor._retention_days("sandefjord") == 400  # read before the change landed
    assert ingestor._retention_days("sandefjord") == 30


def test_a_keyed_device_over_its_hour_is_not_told_which_hour(
    client, sandefjord, aes_sensor, monkeypatch, caplog
):
    """The hour comes from the device's clock inside the sealed payload: the sender learns it
    no more than the readings; the quarantine record names it for the tenant's admins."""
    from shared.telemetry import ingest

    monkeypatch.setattr(ingest, "MAX_HOUR_READINGS", 1)
    sealed = [_sealed(b'{"temperature": 4.5, "time": "2026-11-22T05:%02d:00Z"}' % minute, seq)
              for seq, minute in ((1, 10), (2, 20))]
    assert _post_device(client, sandefjord, aes_sensor, sealed[0]).status_code == 202
    refused = _post_device(client, sandefjord, aes_sensor, sealed[1])
    assert (refused.status_code, refused.json()["reason"]) == (413, "too_large")
    assert "05:00" not in refused.json()["detail"]
    assert not any("05:00" in record.getMessage() for record in caplog.records)
    [record] = _quarantine(client, sandefjord)["items"]
    assert "2026-11-22T05:00Z" in record["detail"]
