"""Quarantine: every message ingest could not accept, kept with its reason for the operator.

A record holds the reason code, a human detail, where the message came from and the original
message (as text when it is UTF-8, else base64). Device keys are write-only in the registry, but
a network server may put session keys into its messages (The Things Stack forwards the AppSKey
in `uplink_message.app_s_key` when it skips payload crypto): their values are redacted before a
message is kept. The detail is written by ingest, not copied from the message. Ids are
deterministic (message, device, receive time, detail), so a redelivered bad message is one
record (kept as first received: it keeps its place in a listing being paged), and two devices'
identical bodies are two; records expire with the container's TTL (30 days). A record of a
message that was parsed also keeps the uplink's receive time, so that it can be replayed
(`shared.telemetry.replay`) exactly as it first arrived once its cause is fixed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.store import Conflict, Query
from shared.store.tenancy import TenantContainer

#: A message is kept whole up to the API's default body limit, so any message the default
#: accepts can be replayed (TTN uplinks heard by many gateways exceed 64 KiB). Stored as JSON
#: text, escaping can make it up to 6 times longer (control characters as \u00XX): 1.5 MB,
#: inside Cosmos DB's 2 MB item limit.
MAX_KEPT_BYTES = 256 * 1024
_FIND_PAGE = 50  # records of up to MAX_KEPT_BYTES each
_MAX_FIND_PAGES = 50

#: Every reason ingest quarantines for (stable codes, counted per tenant).
REASONS = (
    "malformed",
    "too_large",
    "unknown_tenant",
    "unknown_device",
    "no_key",
    "decrypt_failed",
    "decode_failed",
    "fcnt_replayed",
    "fcnt_regressed",
    "devaddr_changed",
    "internal_error",
)


class QuarantineRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: str
    reason: str
    detail: str
    source: str
    device: str | None
    received: datetime
    message: str
    encoding: str  # "utf-8" or "base64"
    truncated: bool
    uplink_time: datetime | None = Field(
        None, alias="uplinkTime", description="When the network or IoT Hub received it (parsed)."
    )

    def original(self) -> bytes:
        """The message's bytes as they arrived (or their first `MAX_KEPT_BYTES`)."""
        if self.encoding == "base64":
            return base64.b64decode(self.message)
        return self.message.encode()


#: Fields in which LoRaWAN network servers send session or root keys (The Things Stack's
#: snake_case, ChirpStack's camelCase), and Smartby's own device key fields (a registration
#: body posted to an ingest URL by mistake); their values never reach a quarantine record.
KEY_FIELDS = frozenset({
    "app_s_key", "nwk_s_key", "f_nwk_s_int_key", "s_nwk_s_int_key", "nwk_s_enc_key",
    "app_key", "nwk_key", "appSKey", "nwkSKey", "fNwkSIntKey", "sNwkSIntKey", "nwkSEncKey",
    "appKey", "nwkKey", "aesKey", "aes_key",
})
REDACTED = "[redacted]"
_WITHHELD = orjson.dumps({"withheld": "the message names a key field and could not be redacted"})


def record_id(
    source: str, raw: bytes, detail: str, device: str | None, uplink_time: datetime | None
) -> str:
    """Deterministic: the same message from the same device, received at the same time and
    rejected for the same reason, is one record."""
    parts = (source, detail, device or "", uplink_time.isoformat() if uplink_time else "")
    key = b"\0".join((*(part.encode() for part in parts), raw))
    return hashlib.blake2b(key, digest_size=16).hexdigest()


_JSON_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")


def _names_key_field(raw: bytes) -> bool:
    """Whether any of `KEY_FIELDS` occurs in the message, also spelt with JSON `\\u` escapes."""
    if any(name.encode() in raw for name in KEY_FIELDS):
        return True
    if b"\\u" not in raw:
        return False
    unescaped = _JSON_ESCAPE.sub(lambda escape: chr(int(escape[1], 16)).encode(errors="replace"),
                                 raw)
    return any(name.encode() in unescaped for name in KEY_FIELDS)


def without_keys(raw: bytes) -> bytes:
    """The message with the values of any `KEY_FIELDS` (at any depth) redacted; unchanged when
    it has none. A message naming a key field that cannot be redacted (not JSON, or nested
    deeper than orjson reads or writes) is withheld: a placeholder is kept instead."""
    if not _names_key_field(raw):
        return raw
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _WITHHELD
    found = False
    stack = [message] if isinstance(message, dict | list) else []
    while stack:  # iterative: JSON nests deeper than Python's recursion limit
        node = stack.pop()
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for name, value in list(children):
            if isinstance(node, dict) and name in KEY_FIELDS:
                node[name] = REDACTED
                found = True
            elif isinstance(value, dict | list):
                stack.append(value)
    if not found:
        return raw
    try:
        return orjson.dumps(message)
    except TypeError:  # nested deeper than orjson writes (255 levels)
        return _WITHHELD


class Quarantine:
    def __init__(self, records: TenantContainer) -> None:
        self._records = records

    def put(
        self,
        reason: str,
        detail: str,
        source: str,
        raw: bytes,
        device: str | None = None,
        uplink_time: datetime | None = None,
    ) -> str:
        if reason not in REASONS:
            raise ValueError(f"unknown quarantine reason {reason!r}")
        raw = without_keys(raw)
        kept = raw[:MAX_KEPT_BYTES]
        try:
            message, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            message, encoding = base64.b64encode(kept).decode(), "base64"
        doc: dict[str, Any] = {
            "id": record_id(source, raw, detail, device, uplink_time),
            "reason": reason,
            "detail": detail[:500],
            "source": source,
            "device": device,
            "received": datetime.now(UTC).isoformat(),
            "message": message,
            "encoding": encoding,
            "truncated": len(raw) > MAX_KEPT_BYTES,
            "uplinkTime": uplink_time.isoformat() if uplink_time else None,
        }
        # The same message again: the record keeps its first `received`, so its place.
        with contextlib.suppress(Conflict):
            self._records.create(doc)
        return doc["id"]

    def get(self, record_id: str) -> QuarantineRecord | None:
        doc = self._records.read(record_id)
        return QuarantineRecord.model_validate(doc) if doc else None

    def delete(self, record_id: str) -> None:
        self._records.delete(record_id)

    def list(
        self,
        reason: str | None,
        limit: int,
        continuation: str | None,
        *,
        oldest_first: bool = False,
    ) -> tuple[list[QuarantineRecord], str | None]:
        query = Query(
            where={"reason": reason} if reason else {},
            order_by="received",
            descending=not oldest_first,
        )
        page = self._records.query(query, limit=limit, continuation=continuation)
        return [QuarantineRecord.model_validate(d) for d in page.items], page.continuation

    def find(
        self, reason: str, device: str | None, limit: int, continuation: str | None = None
    ) -> tuple[list[QuarantineRecord], str | None]:
        """Up to `limit` records of one reason (and device, in any case), oldest first, and
        where the next call goes on: a backlog replayed in several calls goes forward, and
        past records that are refused again (they keep their place)."""
        found: list[QuarantineRecord] = []
        token = continuation
        for _ in range(_MAX_FIND_PAGES):
            # Never more than still wanted: the token then resumes right after the last found.
            page, token = self.list(
                reason, min(_FIND_PAGE, limit - len(found)), token, oldest_first=True
            )
            found.extend(r for r in page if device is None or (r.device or "").lower() == device)
            if len(found) >= limit or token is None:
                break
        return found, token

    def counts(self) -> dict[str, int]:
        counts = {
            reason: self._records.count(Query(where={"reason": reason})) for reason in REASONS
        }
        return {reason: n for reason, n in counts.items() if n}
