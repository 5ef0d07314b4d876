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
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple, TypeVar

import msgspec
import orjson

from shared.telemetry.envelope import Envelope, EnvelopeError, parse_envelope

MAX_FRM_PAYLOAD = 256  # LoRaWAN's largest FRMPayload is 242 bytes
MAX_DEVICE_BODY = 16 * 1024
MAX_RX_METADATA = 64
_UTF8_BOM = b"\xef\xbb\xbf"
_HEX_EUI = re.compile(r"^[0-9a-fA-F]{16}$")
_HEX_ADDR = re.compile(r"^[0-9a-fA-F]{8}$")
T = TypeVar("T")
log = logging.getLogger(__name__)


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
    envelope: Envelope | None = None  # IP devices' AES-GCM envelope, opened by ingest


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed message that carries no uplink (join, status, ack...): accepted, not stored."""

    source: str
    kind: str


_LEAP_SECOND = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d):60(?:\.\d+)?")


def parse_time(value: Any, field: str) -> datetime:
    """RFC 3339 as network servers send it (nanoseconds, `Z`) to an aware UTC datetime.

    Python 3.11's `fromisoformat` reads `Z` and truncates digits beyond microseconds; RFC 3339
    also allows `t` and `z`, and a leap second (`:60`), taken as the second's last microsecond.
    """
    if not isinstance(value, str) or len(value) > 40:
        raise MalformedUplink("malformed", f"{field} must be an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:  # the rarer spellings, only when needed: this runs for every message
            parsed = datetime.fromisoformat(_LEAP_SECOND.sub(r"\1:59.999999", value.upper()))
        except ValueError as exc:
            raise MalformedUplink("malformed", f"{field} is not an RFC 3339 time") from exc
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        raise MalformedUplink("malformed", f"{field} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: no such time in UTC
        raise MalformedUplink("malformed", f"{field} is out of range") from None


def load_json(raw: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedUplink("malformed", f"not JSON: {exc.msg}") from exc
    if not isinstance(message, dict):
        raise MalformedUplink("malformed", "the message must be a JSON object")
    return message


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
    if not isinstance(value, str):
        raise MalformedUplink("malformed", f"{field} must be base64 text")
    if len(value) > MAX_FRM_PAYLOAD * 2:
        raise MalformedUplink("too_large", f"{field} is longer than {MAX_FRM_PAYLOAD} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MalformedUplink("malformed", f"{field} is not base64") from exc
    if len(data) > MAX_FRM_PAYLOAD:
        raise MalformedUplink("too_large", f"{field} is longer than {MAX_FRM_PAYLOAD} bytes")
    return data


class _Gateway(msgspec.Struct):
    """One gateway's reception of the frame (TTS `rx_metadata`, ChirpStack `rxInfo` entries)."""

    rssi: float | None = None
    snr: float = 0.0  # both omit a zero SNR


def _best_signal(gateways: list[_Gateway]) -> tuple[float | None, float | None, int]:
    """The strongest gateway's RSSI and SNR, and how many gateways heard the frame."""
    heard = gateways[:MAX_RX_METADATA]
    best_rssi: float | None = None
    best_snr: float | None = None
    for gateway in heard:
        rssi = gateway.rssi
        if rssi is not None and (best_rssi is None or rssi > best_rssi):
            best_rssi, best_snr = rssi, gateway.snr
    return best_rssi, best_snr, len(heard)


def _network_uplink(
    source: str,
    dev_eui: str,
    received: datetime,
    payload: bytes,
    fport: int,
    fcnt: int,
    dev_addr: int | None,
    gateways: list[_Gateway],
) -> Uplink | Ignored:
    """A LoRaWAN uplink a network server forwarded, with its best gateway's signal.

    A frame without application data (FPort 0 carries only MAC commands; an empty frame only
    keeps the session alive) has nothing to decode: it is ignored, not quarantined.
    """
    if fport == 0 or not payload:
        return Ignored(source, "no_application_payload")
    rssi, snr, heard = _best_signal(gateways)
    return Uplink(source, dev_eui, received, payload, True, fport, fcnt, dev_addr, rssi, snr, heard)


_Port = Annotated[int, msgspec.Meta(ge=0, le=255)]
_FrameCounter = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]


# The webhook formats as typed schemas: msgspec decodes and type-checks a message in one pass in
# C. Identifiers, payloads and times stay `Any` and go through the checks above, so every way a
# field can be wrong gets the same reason and wording whichever format carried it.
class _TtnDeviceIds(msgspec.Struct):
    dev_eui: Any = None
    dev_addr: Any = None


class _TtnUplinkMessage(msgspec.Struct):
    f_port: _Port = 0  # zero-valued fields are omitted
    f_cnt: _FrameCounter = 0
    frm_payload: Any = None
    rx_metadata: list[_Gateway] = []
    received_at: Any = None


class _TtnMessage(msgspec.Struct):
    end_device_ids: _TtnDeviceIds
    uplink_message: _TtnUplinkMessage | None = None
    received_at: Any = None
    simulated: bool = False  # the console's "Simulate uplink": not a reading from the field


class _ChirpStackDeviceInfo(msgspec.Struct, rename="camel"):
    dev_eui: Any = None


class _ChirpStackEvent(msgspec.Struct, rename="camel"):
    device_info: _ChirpStackDeviceInfo
    dev_addr: Any = None
    f_cnt: _FrameCounter = 0  # protobuf JSON omits defaults
    f_port: _Port = 0
    data: Any = None
    rx_info: list[_Gateway] = []
    time: Any = None


_TTN = msgspec.json.Decoder(_TtnMessage)
_CHIRPSTACK = msgspec.json.Decoder(_ChirpStackEvent)


def _decode(decoder: msgspec.json.Decoder[T], raw: bytes) -> T:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise MalformedUplink("malformed", str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise MalformedUplink("malformed", f"not JSON: {exc}") from exc
    except UnicodeDecodeError:  # msgspec's answer to a string that is not UTF-8
        raise MalformedUplink("malformed", "the JSON is not UTF-8") from None
    except RecursionError:
        raise MalformedUplink("malformed", "the JSON is nested too deeply") from None


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
    message = _decode(_TTN, raw)
    ids, up = message.end_device_ids, message.uplink_message
    if up is None:
        present = load_json(raw)  # only for the messages that are not uplinks
        for kind in TTN_OTHER_MESSAGES:
            if kind in present:
                return Ignored("ttn", kind)
        raise MalformedUplink("malformed", "no uplink_message in the webhook message")
    if message.simulated:
        return Ignored("ttn", "simulated")
    return _network_uplink(
        "ttn",
        _dev_eui(ids.dev_eui),
        parse_time(up.received_at or message.received_at, "received_at"),
        _base64(up.frm_payload, "frm_payload"),
        up.f_port,
        up.f_cnt,
        _dev_addr(ids.dev_addr),
        up.rx_metadata,
    )


CHIRPSTACK_EVENTS = ("up", "join", "status", "ack", "txack", "log", "location", "integration")


def parse_chirpstack(raw: bytes, event: str) -> Uplink | Ignored:
    """An `up` event's uplink; the other events are ignored, and so are event types a newer
    ChirpStack may add (unknown ones are not parsed at all)."""
    event = event.lower()  # ChirpStack sends them in lower case; a URL typed by hand may not
    if event not in CHIRPSTACK_EVENTS:
        log.info("ChirpStack event %r is not one Smartby knows: ignored", event)
        return Ignored("chirpstack", "unknown_event")
    message = _decode(_CHIRPSTACK, raw)
    dev_eui = _dev_eui(message.device_info.dev_eui)
    if event != "up":
        return Ignored("chirpstack", event)
    return _network_uplink(
        "chirpstack",
        dev_eui,
        parse_time(message.time, "time"),
        _base64(message.data, "data"),
        message.f_port,
        message.f_cnt,
        _dev_addr(message.dev_addr),
        message.rx_info,
    )


def parse_device_body(raw: bytes, dev_eui: str, received: datetime, source: str) -> Uplink:
    """An IP device's message: an AES-GCM envelope (`{"v":1,"alg":"A256GCM",...}`), whose
    `seq` is the uplink's frame counter, or clear JSON."""
    if len(raw) > MAX_DEVICE_BODY:
        raise MalformedUplink("too_large", f"device messages are at most {MAX_DEVICE_BODY} bytes")
    envelope = None
    # Writers such as PowerShell and .NET put a BOM first, and some firmware a line break.
    head = raw.removeprefix(_UTF8_BOM).lstrip()
    if head[:1] == b"{" and b'"alg"' in head:
        candidate = load_json(head)
        if "alg" in candidate and "ct" in candidate:
            try:
                envelope = parse_envelope(candidate)
            except EnvelopeError as exc:
                raise MalformedUplink("malformed", f"bad envelope: {exc}") from None
    return Uplink(
        source=source,
        dev_eui=_dev_eui(dev_eui),
        received=received,
        payload=b"" if envelope else raw,
        lorawan=False,
        fcnt=envelope.seq if envelope else None,
        envelope=envelope,
    )


def reparse(raw: bytes, source: str, device: str | None, received: datetime | None) -> Uplink:
    """A quarantined message parsed again as its entry point parsed it, to replay it.

    Only uplinks reach the quarantine past parsing (ChirpStack's other events are ignored), and
    an IP device's message needs the device and receive time its entry point knew.
    """
    if source == "ttn":
        parsed = parse_ttn(raw)
    elif source == "chirpstack":
        parsed = parse_chirpstack(raw, "up")
    elif source in ("http", "iothub") and device and received:
        parsed = parse_device_body(raw, device, received, source)
    else:
        raise MalformedUplink("malformed", f"this {source} message cannot be parsed again")
    if not isinstance(parsed, Uplink):
        raise MalformedUplink("malformed", f"the {source} message is not an uplink")
    return parsed
