"""Real-format network-server messages for tests (The Things Stack v3, ChirpStack v4)."""

from __future__ import annotations

import base64
from typing import Any

from shared.telemetry.lorawan import FrmPayloadCipher


def encrypt(payload: bytes, app_s_key: str, dev_addr: str, fcnt: int) -> bytes:
    return FrmPayloadCipher(bytes.fromhex(app_s_key)).encrypt(payload, int(dev_addr, 16), fcnt)


def ttn_uplink(
    dev_eui: str, dev_addr: str, fcnt: int, frm_payload: bytes, received: str,
    f_port: int = 85, rssi: int = -97, snr: float = 7.25,
) -> dict[str, Any]:
    """A TTS v3 webhook uplink; like TTS, it omits zero-valued fields (f_cnt 0)."""
    uplink: dict[str, Any] = {
        "f_port": f_port,
        "frm_payload": base64.b64encode(frm_payload).decode(),
        "rx_metadata": [
            {"gateway_ids": {"gateway_id": "sandefjord-gw-1", "eui": "B827EBFFFE123456"},
             "rssi": rssi, "channel_rssi": rssi, "snr": snr, "uplink_token": "ChIKEAoO"},
            {"gateway_ids": {"gateway_id": "sandefjord-gw-2"}, "rssi": rssi - 15,
             "channel_rssi": rssi - 15, "snr": -3.5},
        ],
        "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9}},
                     "frequency": "868100000"},
        "received_at": received,
        "consumed_airtime": "0.185344s",
    }
    if fcnt:
        uplink["f_cnt"] = fcnt
    return {
        "end_device_ids": {
            "device_id": f"eui-{dev_eui.lower()}",
            "application_ids": {"application_id": "smartby-sandefjord"},
            "dev_eui": dev_eui.upper(),
            "join_eui": "0000000000000000",
            "dev_addr": dev_addr.upper(),
        },
        "correlation_ids": ["as:up:01HABCDEF"],
        "received_at": received,
        "uplink_message": uplink,
    }


def chirpstack_up(
    dev_eui: str, dev_addr: str, fcnt: int, data: bytes, time: str, f_port: int = 2
) -> dict[str, Any]:
    """A ChirpStack v4 HTTP integration `up` event (JSON marshaler)."""
    event: dict[str, Any] = {
        "deduplicationId": "3f0e8b2a-6a53-4b7c-9d2e-9a1f1c3b7d10",
        "time": time,
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "Drammen",
            "applicationId": "e908e9f6-1c3e-4b0f-8b0e-0f1d1f3b5e33",
            "applicationName": "Badetemperatur",
            "deviceProfileId": "0b9bd1a4-1f4f-4a5b-9c0e-6d2f3e1b2a9c",
            "deviceProfileName": "Dragino LHT65",
            "deviceName": "Glitre badeplass",
            "devEui": dev_eui.lower(),
            "tags": {},
        },
        "devAddr": dev_addr.lower(),
        "adr": True,
        "dr": 5,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(data).decode(),
        "rxInfo": [{"gatewayId": "0016c001ff10a235", "uplinkId": 4217106255, "rssi": -104,
                    "snr": 2.8, "context": "EFwMtA==", "metadata": {"region_name": "eu868"}}],
        "txInfo": {"frequency": 868300000,
                   "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7}}},
    }
    if fcnt:
        event["fCnt"] = fcnt
    return event
