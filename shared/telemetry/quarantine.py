"""Quarantine: every message ingest could not accept, kept with its reason for the operator.

A record holds the reason code, a human detail, where the message came from and the original
message (as text when it is UTF-8, else base64). Message bodies never contain device keys (those
are write-only in the registry, never part of an uplink), and the detail is written by ingest,
not copied from the message. Ids are deterministic, so a redelivered bad message is one record;
records expire with the container's TTL (30 days). A record of a message that was parsed also
keeps the uplink's receive time, so that it can be replayed (`shared.telemetry.replay`) exactly
as it first arrived once its cause is fixed.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.store import Query
from shared.store.tenancy import TenantContainer

MAX_KEPT_BYTES = 64 * 1024
_FIND_PAGE = 200
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


def record_id(source: str, raw: bytes, detail: str) -> str:
    """Deterministic: the same message rejected again for the same reason is one record."""
    key = b"\0".join((source.encode(), detail.encode(), raw))
    return hashlib.blake2b(key, digest_size=16).hexdigest()


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
        kept = raw[:MAX_KEPT_BYTES]
        try:
            message, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            message, encoding = base64.b64encode(kept).decode(), "base64"
        doc: dict[str, Any] = {
            "id": record_id(source, raw, detail),
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
        self._records.upsert(doc)
        return doc["id"]

    def get(self, record_id: str) -> QuarantineRecord | None:
        doc = self._records.read(record_id)
        return QuarantineRecord.model_validate(doc) if doc else None

    def delete(self, record_id: str) -> None:
        self._records.delete(record_id)

    def list(
        self, reason: str | None, limit: int, continuation: str | None
    ) -> tuple[list[QuarantineRecord], str | None]:
        query = Query(
            where={"reason": reason} if reason else {}, order_by="received", descending=True
        )
        page = self._records.query(query, limit=limit, continuation=continuation)
        return [QuarantineRecord.model_validate(d) for d in page.items], page.continuation

    def find(self, reason: str, device: str | None, limit: int) -> list[QuarantineRecord]:
        """Up to `limit` records of one reason (and device), newest first."""
        found: list[QuarantineRecord] = []
        token = None
        for _ in range(_MAX_FIND_PAGES):
            page, token = self.list(reason, _FIND_PAGE, token)
            found.extend(r for r in page if device is None or r.device == device)
            if len(found) >= limit or token is None:
                break
        return found[:limit]

    def counts(self) -> dict[str, int]:
        counts = {
            reason: self._records.count(Query(where={"reason": reason})) for reason in REASONS
        }
        return {reason: n for reason, n in counts.items() if n}
