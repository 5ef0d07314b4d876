"""Network-server uplink JSON in the real formats of The Things Stack v3 and ChirpStack v4.

References: The Things Stack "Data Formats" (webhook uplink message; "empty fields are omitted
from payloads": a field that is "", 0 or false is absent, e.g. ``f_cnt`` of a session's first
uplink) and ChirpStack v4 "Event types" (``up`` event, protobuf JSON mapping; since ChirpStack
4.1 fields at their default value are emitted too, so ``fCnt: 0`` and ``confirmed: false`` are
present).

With end-to-end encryption the network server does not hold the AppSKey: ``frm_payload`` /
``data`` carry the FRMPayload exactly as it came over the air, encrypted. Identifiers the real
servers generate at random (ULIDs, UUIDs, uplink tokens) are derived from the uplink itself
here, so that the same uplink always builds the same JSON (what a redelivery looks like).
"""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.simulator.climate import derive_bytes

EU868_CHANNELS = (
    868_100_000, 868_300_000, 868_500_000, 867_100_000,
    867_300_000, 867_500_000, 867_700_000, 867_900_000,
)  # fmt: skip
BANDWIDTH_HZ = 125_000
_LORAWAN_OVERHEAD = 13  # MHDR 1 + FHDR 7 (no FOpts) + FPort 1 + MIC 4
_GATEWAY_TO_NS = timedelta(milliseconds=40)  # gateway receive -> network server
_NS_TO_AS = timedelta(milliseconds=180)  # network server -> application server (deduplication)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class Reception:
    """How one gateway heard an uplink."""

    gateway_id: str  # TTS gateway id, e.g. "smartby-sandefjord-gw1"
    gateway_eui: str  # 16 hex digits
    rssi: int  # dBm
    snr: float  # dB
    lat: float
    lon: float
    altitude: float = 0.0


@dataclass(frozen=True, slots=True)
class Uplink:
    """One LoRaWAN data uplink, as a network server reports it to the application."""

    dev_eui: str  # 16 hex digits
    device_name: str  # ChirpStack deviceName (TTS device ids are slugs: "eui-<deveui>")
    application: str  # a slug: TTS application_id, ChirpStack applicationName
    dev_addr: int
    f_port: int
    f_cnt: int  # full 32-bit counter, as both servers forward it
    frm_payload: bytes  # as on the air: encrypted with the AppSKey
    received_at: datetime  # when the application server got it
    reception: Reception
    spreading_factor: int = 7
    channel: int = 0  # index into EU868_CHANNELS
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def frequency(self) -> int:
        return EU868_CHANNELS[self.channel]

    @property
    def gateway_time(self) -> datetime:
        return self.received_at - _NS_TO_AS - _GATEWAY_TO_NS

    @property
    def concentrator_timestamp(self) -> int:
        """The gateway's free-running 32-bit microsecond counter at reception."""
        return int(self.gateway_time.timestamp() * 1_000_000) & 0xFFFFFFFF

    def digest(self, purpose: str, size: int) -> bytes:
        """Bytes fixed for this uplink and purpose: stand-ins for the servers' randomness."""
        return derive_bytes(
            size, purpose, self.dev_eui, self.dev_addr, self.f_cnt, self.received_at
        )


def airtime_seconds(
    payload_size: int, spreading_factor: int, bandwidth: int = BANDWIDTH_HZ
) -> float:
    """LoRa time on air of a data uplink (Semtech AN1200.13): explicit header, CRC on, CR 4/5,
    8 preamble symbols, low data rate optimisation for SF11/SF12 at 125 kHz."""
    symbol = 2**spreading_factor / bandwidth
    low_rate = 1 if spreading_factor >= 11 and bandwidth == BANDWIDTH_HZ else 0
    size = payload_size + _LORAWAN_OVERHEAD
    bits = 8 * size - 4 * spreading_factor + 28 + 16
    payload_symbols = 8 + max(math.ceil(bits / (4 * (spreading_factor - 2 * low_rate))) * 5, 0)
    return (8 + 4.25 + payload_symbols) * symbol


def _pb_duration(seconds: float) -> str:
    """Protobuf JSON Duration: 0, 3, 6 or 9 fractional digits, then "s"."""
    nanos = round(seconds * 1e9)
    whole, fraction = divmod(nanos, 1_000_000_000)
    for digits, unit in ((0, 1_000_000_000), (3, 1_000_000), (6, 1_000)):
        if fraction % unit == 0:
            return f"{whole}.{fraction // unit:0{digits}d}s" if digits else f"{whole}s"
    return f"{whole}.{fraction:09d}s"


def _rfc3339(t: datetime, zulu: bool = True) -> str:
    """UTC RFC 3339 with trailing zeros of the fraction trimmed, as Go's RFC3339Nano."""
    seconds, _, fraction = t.astimezone(UTC).replace(tzinfo=None).isoformat().partition(".")
    fraction = fraction.rstrip("0")
    return seconds + (f".{fraction}" if fraction else "") + ("Z" if zulu else "+00:00")


def _ulid(t: datetime, entropy: bytes) -> str:
    """A ULID (48-bit millisecond time + 80 bits), Crockford base32, as TTS correlation ids."""
    value = int(t.timestamp() * 1000) << 80 | int.from_bytes(entropy[:10], "big")
    return "".join(_CROCKFORD[(value >> shift) & 0x1F] for shift in range(125, -1, -5))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _omit_empty(value: Any) -> Any:
    """Drop what TTS omits: "", 0, false, null and objects or lists left empty."""
    if isinstance(value, dict):
        kept = {key: _omit_empty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ("", 0, None, {}, [])}
    if isinstance(value, list):
        return [_omit_empty(item) for item in value]
    return value


def tts_uplink(
    up: Uplink,
    *,
    join_eui: str = "0000000000000000",
    net_id: str = "000013",
    tenant_id: str = "ttn",
    cluster_id: str = "eu1",
) -> dict[str, Any]:
    """The Things Stack v3 webhook body for an uplink message (``uplink_message`` event)."""
    gateway_time = _rfc3339(up.gateway_time)
    ns_time = _rfc3339(up.gateway_time + _GATEWAY_TO_NS)
    timestamp = up.concentrator_timestamp
    reception = up.reception
    correlation = [
        f"as:up:{_ulid(up.received_at, up.digest('as', 10))}",
        f"gs:conn:{_ulid(up.received_at - timedelta(days=3), reception.gateway_eui.encode())}",
        f"gs:up:host:{_ulid(up.gateway_time, up.digest('gs-host', 10))}",
        f"gs:uplink:{_ulid(up.gateway_time, up.digest('gs', 10))}",
        f"ns:uplink:{_ulid(up.gateway_time, up.digest('ns', 10))}",
        f"rpc:/ttn.lorawan.v3.GsNs/HandleUplink:{_ulid(up.gateway_time, up.digest('rpc', 10))}",
        f"rpc:/ttn.lorawan.v3.NsAs/HandleUplink:{_ulid(up.received_at, up.digest('rpc-as', 10))}",
    ]
    body = {
        "end_device_ids": {
            "device_id": f"eui-{up.dev_eui.lower()}",  # the TTS console's default device id
            "application_ids": {"application_id": up.application},
            "dev_eui": up.dev_eui.upper(),
            "join_eui": join_eui,
            "dev_addr": f"{up.dev_addr:08X}",
        },
        "correlation_ids": correlation,
        "received_at": _rfc3339(up.received_at),
        "uplink_message": {
            "session_key_id": _b64(derive_bytes(16, "session", up.dev_eui, up.dev_addr)),
            "f_port": up.f_port,
            "f_cnt": up.f_cnt,
            "frm_payload": _b64(up.frm_payload),
            "rx_metadata": [
                {
                    "gateway_ids": {
                        "gateway_id": reception.gateway_id,
                        "eui": reception.gateway_eui.upper(),
                    },
                    "time": gateway_time,
                    "timestamp": timestamp,
                    "rssi": reception.rssi,
                    "channel_rssi": reception.rssi,
                    "snr": reception.snr,
                    "location": {
                        "latitude": reception.lat,
                        "longitude": reception.lon,
                        "altitude": reception.altitude,
                        "source": "SOURCE_REGISTRY",
                    },
                    "uplink_token": _b64(
                        reception.gateway_id.encode() + timestamp.to_bytes(4, "big")
                    ),
                    "channel_index": up.channel,
                    "received_at": ns_time,
                }
            ],
            "settings": {
                "data_rate": {
                    "lora": {
                        "bandwidth": BANDWIDTH_HZ,
                        "spreading_factor": up.spreading_factor,
                        "coding_rate": "4/5",
                    }
                },
                "frequency": str(up.frequency),  # uint64 is a string in protobuf JSON
                "timestamp": timestamp,
                "time": gateway_time,
            },
            "received_at": ns_time,
            "confirmed": False,
            "consumed_airtime": _pb_duration(
                airtime_seconds(len(up.frm_payload), up.spreading_factor)
            ),
            "network_ids": {
                "net_id": net_id,
                "tenant_id": tenant_id,
                "cluster_id": cluster_id,
                "cluster_address": f"{cluster_id}.cloud.thethings.network",
            },
        },
    }
    return _omit_empty(body)


def _uuid(*parts: object) -> str:
    return str(uuid.UUID(bytes=derive_bytes(16, *parts), version=4))


def chirpstack_uplink(up: Uplink, *, tenant_name: str, device_profile_name: str) -> dict[str, Any]:
    """ChirpStack v4 HTTP integration body for an ``up`` event (POSTed with ``?event=up``)."""
    reception = up.reception
    return {
        "deduplicationId": _uuid("dedup", up.dev_eui, up.dev_addr, up.f_cnt, up.received_at),
        "time": _rfc3339(up.gateway_time, zulu=False),
        "deviceInfo": {
            "tenantId": _uuid("tenant", tenant_name),
            "tenantName": tenant_name,
            "applicationId": _uuid("application", tenant_name, up.application),
            "applicationName": up.application,
            "deviceProfileId": _uuid("device-profile", tenant_name, device_profile_name),
            "deviceProfileName": device_profile_name,
            "deviceName": up.device_name,
            "devEui": up.dev_eui.lower(),
            "deviceClassEnabled": "CLASS_A",
            "tags": dict(up.tags),
        },
        "devAddr": f"{up.dev_addr:08x}",
        "adr": True,
        "dr": 12 - up.spreading_factor,  # EU868: DR0 = SF12 ... DR5 = SF7
        "fCnt": up.f_cnt,
        "fPort": up.f_port,
        "confirmed": False,
        "data": _b64(up.frm_payload),
        "rxInfo": [
            {
                "gatewayId": reception.gateway_eui.lower(),
                "uplinkId": int.from_bytes(up.digest("uplink-id", 4), "big"),
                "gwTime": _rfc3339(up.gateway_time),
                "nsTime": _rfc3339(up.gateway_time + _GATEWAY_TO_NS),
                "rssi": reception.rssi,
                "snr": reception.snr,
                "channel": up.channel,
                "location": {
                    "latitude": reception.lat,
                    "longitude": reception.lon,
                    "altitude": reception.altitude,
                },
                "context": _b64(up.concentrator_timestamp.to_bytes(4, "big")),
                "metadata": {"region_name": "eu868", "region_common_name": "EU868"},
                "crcStatus": "CRC_OK",
            }
        ],
        "txInfo": {
            "frequency": up.frequency,
            "modulation": {
                "lora": {
                    "bandwidth": BANDWIDTH_HZ,
                    "spreadingFactor": up.spreading_factor,
                    "codeRate": "CR_4_5",
                    "polarizationInversion": False,
                }
            },
        },
    }
