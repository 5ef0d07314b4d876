"""Network-server JSON: the documented field sets, and payloads that decrypt with the AppSKey."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.simulator.uplinks import (
    Reception,
    Uplink,
    airtime_seconds,
    chirpstack_uplink,
    tts_uplink,
)
from shared.telemetry.lorawan import FrmPayloadCipher

APP_SKEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
DEV_ADDR = 0x260B1234
PLAINTEXT = bytes.fromhex("01755C03673401046865")
RECEIVED = datetime(2026, 2, 3, 6, 15, 30, 250000, tzinfo=UTC)


def uplink(f_cnt: int, snr: float = 7.5) -> Uplink:
    cipher = FrmPayloadCipher(APP_SKEY)
    return Uplink(
        dev_eui="24E124136B502217",
        device_name="Goksjø vanntemperatur",
        application="smartby-sandefjord",
        dev_addr=DEV_ADDR,
        f_port=85,
        f_cnt=f_cnt,
        frm_payload=cipher.encrypt(PLAINTEXT, DEV_ADDR, f_cnt),
        received_at=RECEIVED,
        reception=Reception(
            "smartby-sandefjord-ttn-gw", "7076FF0056080A1B", -97, snr, 59.13, 10.22
        ),
        spreading_factor=9,
        channel=2,
        tags={"area": "goksjo"},
    )


def test_tts_uplink_has_the_documented_fields() -> None:
    body = tts_uplink(uplink(f_cnt=4711))
    assert set(body) == {"end_device_ids", "correlation_ids", "received_at", "uplink_message"}
    assert body["end_device_ids"] == {
        "device_id": "eui-24e124136b502217",
        "application_ids": {"application_id": "smartby-sandefjord"},
        "dev_eui": "24E124136B502217",
        "join_eui": "0000000000000000",
        "dev_addr": "260B1234",
    }
    assert body["correlation_ids"][0].startswith("as:up:")
    assert all(len(cid.rsplit(":", 1)[1]) == 26 for cid in body["correlation_ids"])  # ULIDs
    message = body["uplink_message"]
    assert {"f_port", "f_cnt", "frm_payload", "rx_metadata", "settings", "received_at"} <= set(
        message
    )
    assert {"consumed_airtime", "network_ids", "session_key_id"} <= set(message)
    assert message["f_port"] == 85 and message["f_cnt"] == 4711
    (rx,) = message["rx_metadata"]
    assert {
        "gateway_ids",
        "time",
        "timestamp",
        "rssi",
        "channel_rssi",
        "snr",
        "uplink_token",
    } <= set(rx)
    assert rx["gateway_ids"] == {
        "gateway_id": "smartby-sandefjord-ttn-gw",
        "eui": "7076FF0056080A1B",
    }
    settings = message["settings"]
    assert settings["data_rate"] == {
        "lora": {"bandwidth": 125_000, "spreading_factor": 9, "coding_rate": "4/5"}
    }
    assert settings["frequency"] == "868500000"  # uint64 as a string, as protobuf JSON has it
    assert settings["timestamp"] == rx["timestamp"]
    assert body["received_at"] == "2026-02-03T06:15:30.25Z"


def test_tts_omits_zero_fields_like_the_stack_does() -> None:
    message = tts_uplink(uplink(f_cnt=0, snr=0.0))["uplink_message"]
    assert "f_cnt" not in message  # a session's first uplink
    assert "confirmed" not in message  # false
    assert "snr" not in message["rx_metadata"][0]
    assert "altitude" not in message["rx_metadata"][0]["location"]


def test_chirpstack_uplink_has_the_documented_fields() -> None:
    body = chirpstack_uplink(
        uplink(f_cnt=0), tenant_name="sandefjord", device_profile_name="milesight-em300-th"
    )
    assert set(body) == {
        "deduplicationId", "time", "deviceInfo", "devAddr", "adr", "dr", "fCnt", "fPort",
        "confirmed", "data", "rxInfo", "txInfo",
    }  # fmt: skip
    info = body["deviceInfo"]
    assert info["devEui"] == "24e124136b502217"
    assert info["deviceName"] == "Goksjø vanntemperatur"
    assert info["tags"] == {"area": "goksjo"}
    assert {"tenantId", "tenantName", "applicationId", "applicationName"} <= set(info)
    assert {"deviceProfileId", "deviceProfileName"} <= set(info)
    assert body["fCnt"] == 0 and body["confirmed"] is False  # ChirpStack >= 4.1 emits defaults
    assert body["devAddr"] == "260b1234" and body["fPort"] == 85 and body["dr"] == 3
    (rx,) = body["rxInfo"]
    assert {"gatewayId", "uplinkId", "rssi", "snr", "location", "context", "metadata"} <= set(rx)
    assert rx["gatewayId"] == "7076ff0056080a1b"
    assert body["txInfo"]["frequency"] == 868_500_000
    assert body["txInfo"]["modulation"]["lora"]["spreadingFactor"] == 9


@pytest.mark.parametrize("f_cnt", [1, 70_000, 2**32 - 1])
def test_payloads_are_the_encrypted_frmpayload_and_decrypt_with_the_appskey(f_cnt: int) -> None:
    up = uplink(f_cnt)
    cipher = FrmPayloadCipher(APP_SKEY)
    tts = base64.b64decode(tts_uplink(up)["uplink_message"]["frm_payload"])
    chirpstack = base64.b64decode(
        chirpstack_uplink(up, tenant_name="t", device_profile_name="p")["data"]
    )
    assert tts == chirpstack != PLAINTEXT
    assert cipher.decrypt(tts, DEV_ADDR, f_cnt) == PLAINTEXT


def test_the_same_uplink_builds_the_same_json_and_another_uplink_other_ids() -> None:
    first, again = uplink(10), uplink(10)
    assert tts_uplink(first) == tts_uplink(again)
    cs = chirpstack_uplink(first, tenant_name="t", device_profile_name="p")
    assert cs == chirpstack_uplink(again, tenant_name="t", device_profile_name="p")
    other = chirpstack_uplink(uplink(11), tenant_name="t", device_profile_name="p")
    assert other["deduplicationId"] != cs["deduplicationId"]
    assert other["deviceInfo"]["tenantId"] == cs["deviceInfo"]["tenantId"]


def test_airtime_matches_the_lora_calculator() -> None:
    # TTN airtime calculator, 10 byte application payload, EU868 125 kHz: 61.7 ms / 1482.8 ms
    assert airtime_seconds(10, 7) == pytest.approx(0.061696)
    assert airtime_seconds(10, 12) == pytest.approx(1.482752)
    message = tts_uplink(replace(uplink(3), spreading_factor=7))["uplink_message"]
    assert message["consumed_airtime"] == "0.061696s"
