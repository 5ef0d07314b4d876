"""Every way an uplink arrives, parsed into one `Uplink` for the ingest core.

* The Things Stack v3 webhook `uplink_message` JSON (zero-valued fields omitted, as TTS does).
* ChirpStack v4 HTTP integration `up` event JSON (protobuf JSON mapping: defaults omitted).
* IoT Hub device-to-cloud messages (through the Event Hub-compatible endpoint): the device is
  `iothub-connection-device-id` (authenticated by IoT Hub), the tenant the application property
  `tenant` stamped by the IoT Hub message enrichment (`$twin.tags.tenant`).
* Direct HTTP posts from IP devices.

A message that cannot be parsed raises `MalformedUplink` with a reason; the caller quarantines it
with the original bytes. Parsing never trusts sizes: every field is bounded.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

MAX_FRM_PAYLOAD = 256  # LoRaWAN's largest FRMPayload is 242 bytes
MAX_DEVICE_BODY = 16 * 1024
MAX_RX_METADATA = 64
_HEX_EUI = re.compile(r"^[0-9a-fA-F]{16}$")
_HEX_ADDR = re.compile(r"^[0-9a-fA-F]{8}$")


class MalformedUplink(ValueError):
    """The message is not a well-formed uplink of its kind; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Uplink(NamedTuple):
    """An uplink as ingest sees it, whatever carried it (a NamedTuple: built once per message)."""

    source: str  # "ttn" | "chirpstack" | "iothub" | "http"
    dev_eui: str  # lower-case hex
    received: datetime  # network (or hub) receive time, UTC
    payload: bytes  # LoRaWAN FRMPayload (maybe end-to-end encrypted) or an IP device's body
    lorawan: bool
    fport: int = 0
    fcnt: int | None = None
    dev_addr: int | None = None
    rssi: float | None = None
    snr: float | None = None
    gateways: int = 0
    envelope: Mapping[str, Any] | None = None  # IP devices' AES-GCM envelope, opened by ingest


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed message that carries no uplink (join, status, ack...): accepted, not stored."""

    source: str
    kind: str


def parse_time(value: Any, field: str) -> datetime:
    """RFC 3339 as network servers send it (nanoseconds, `Z`) to an aware UTC datetime.

    Python 3.11's `fromisoformat` reads `Z` and truncates digits beyond microseconds.
    """
    if not isinstance(value, str) or len(value) > 40:
        raise MalformedUplink("malformed", f"{field} must be an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedUplink("malformed", f"{field} is not an RFC 3339 time") from exc
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        raise MalformedUplink("malformed", f"{field} has no time zone")
    return parsed.astimezone(UTC)


def load_json(raw: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedUplink("malformed", f"not JSON: {exc.msg}") from exc
    if not isinstance(message, dict):
        raise MalformedUplink("malformed", "the message must be a JSON object")
    return message


def _object(container: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise MalformedUplink("malformed", f"{key} must be an object")
    return value


def _int(container: Mapping[str, Any], key: str, default: int | None, maximum: int) -> int | None:
    value = container.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise MalformedUplink("malformed", f"{key} must be an integer in 0..{maximum}")
    return value


def _dev_eui(value: Any) -> str:
    if not isinstance(value, str) or not _HEX_EUI.fullmatch(value):
        raise MalformedUplink("malformed", "the DevEUI must be 16 hex digits")
    return value.lower()


def _dev_addr(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX_ADDR.fullmatch(value):
        raise MalformedUplink("malformed", "the DevAddr must be 8 hex digits")
    return int(value, 16)


def _base64(value: Any, field: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str) or len(value) > MAX_FRM_PAYLOAD * 2:
        raise MalformedUplink("too_large", f"{field} is longer than {MAX_FRM_PAYLOAD} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MalformedUplink("malformed", f"{field} is not base64") from exc
    if len(data) > MAX_FRM_PAYLOAD:
        raise MalformedUplink("too_large", f"{field} is longer than {MAX_FRM_PAYLOAD} bytes")
    return data


def _best_signal(rx: Any, rssi_key: str, snr_key: str) -> tuple[float | None, float | None, int]:
    """The strongest gateway's RSSI and SNR, and how many gateways heard the frame."""
    if not isinstance(rx, list):
        return None, None, 0
    best: tuple[float | None, float | None] = (None, None)
    for gateway in rx[:MAX_RX_METADATA]:
        if not isinstance(gateway, dict):
            continue
        rssi = gateway.get(rssi_key)
        snr = gateway.get(snr_key, 0.0)
        if not isinstance(rssi, (int, float)) or not isinstance(snr, (int, float)):
            continue
        if best[0] is None or rssi > best[0]:
            best = (float(rssi), float(snr))
    return best[0], best[1], min(len(rx), MAX_RX_METADATA)


#: TTS webhook messages that are not uplinks; accepted and explicitly ignored.
TTN_OTHER_MESSAGES = (
    "join_accept",
    "downlink_ack",
    "downlink_nack",
    "downlink_sent",
    "downlink_failed",
    "downlink_queued",
    "downlink_queue_invalidated",
    "location_solved",
    "service_data",
)


def parse_ttn(raw: bytes) -> Uplink | Ignored:
    message = load_json(raw)
    ids = _object(message, "end_device_ids")
    if "uplink_message" not in message:
        for kind in TTN_OTHER_MESSAGES:
            if kind in message:
                return Ignored("ttn", kind)
        raise MalformedUplink("malformed", "no uplink_message in the webhook message")
    up = _object(message, "uplink_message")
    received = up.get("received_at", message.get("received_at"))
    rssi, snr, gateways = _best_signal(up.get("rx_metadata"), "rssi", "snr")
    return Uplink(
        source="ttn",
        dev_eui=_dev_eui(ids.get("dev_eui")),
        received=parse_time(received, "received_at"),
        payload=_base64(up.get("frm_payload"), "frm_payload"),
        lorawan=True,
        fport=_int(up, "f_port", 0, 255) or 0,
        fcnt=_int(up, "f_cnt", 0, 0xFFFFFFFF),
        dev_addr=_dev_addr(ids.get("dev_addr")),
        rssi=rssi,
        snr=snr,
        gateways=gateways,
    )


CHIRPSTACK_EVENTS = ("up", "join", "status", "ack", "txack", "log", "location", "integration")


def parse_chirpstack(raw: bytes, event: str) -> Uplink | Ignored:
    if event not in CHIRPSTACK_EVENTS:
        raise MalformedUplink("malformed", f"unknown ChirpStack event {event!r}")
    message = load_json(raw)
    info = _object(message, "deviceInfo")
    dev_eui = _dev_eui(info.get("devEui"))
    if event != "up":
        return Ignored("chirpstack", event)
    rssi, snr, gateways = _best_signal(message.get("rxInfo"), "rssi", "snr")
    return Uplink(
        source="chirpstack",
        dev_eui=dev_eui,
        received=parse_time(message.get("time"), "time"),
        payload=_base64(message.get("data"), "data"),
        lorawan=True,
        fport=_int(message, "fPort", 0, 255) or 0,
        fcnt=_int(message, "fCnt", 0, 0xFFFFFFFF),
        dev_addr=_dev_addr(message.get("devAddr")),
        rssi=rssi,
        snr=snr,
        gateways=gateways,
    )


def parse_device_body(raw: bytes, dev_eui: str, received: datetime, source: str) -> Uplink:
    """An IP device's message: an AES-GCM envelope (`{"v":1,"alg":"A256GCM",...}`) or clear JSON."""
    if len(raw) > MAX_DEVICE_BODY:
        raise MalformedUplink("too_large", f"device messages are at most {MAX_DEVICE_BODY} bytes")
    envelope = None
    if raw[:1] == b"{" and b'"alg"' in raw:
        candidate = load_json(raw)
        if "alg" in candidate and "ct" in candidate:
            envelope = candidate
    return Uplink(
        source=source,
        dev_eui=_dev_eui(dev_eui),
        received=received,
        payload=b"" if envelope else raw,
        lorawan=False,
        envelope=envelope,
    )
