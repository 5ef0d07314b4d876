"""Quarantine: every message ingest could not accept, kept with its reason for the operator.

A record holds the reason code, a human detail, where the message came from and the original
message (as text when it is UTF-8, else base64). Message bodies never contain device keys (those
are write-only in the registry, never part of an uplink), and the detail is written by ingest,
not copied from the message. Ids are deterministic, so a redelivered bad message is one record;
records expire with the container's TTL (30 days).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.store import Query
from shared.store.tenancy import TenantContainer

MAX_KEPT_BYTES = 64 * 1024

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
    id: str
    reason: str
    detail: str
    source: str
    device: str | None
    received: datetime
    message: str
    encoding: str  # "utf-8" or "base64"
    truncated: bool


def record_id(source: str, raw: bytes, detail: str) -> str:
    """Deterministic: the same message rejected again for the same reason is one record."""
    key = b"\0".join((source.encode(), detail.encode(), raw))
    return hashlib.blake2b(key, digest_size=16).hexdigest()


class Quarantine:
    def __init__(self, records: TenantContainer) -> None:
        self._records = records

    def put(
        self, reason: str, detail: str, source: str, raw: bytes, device: str | None = None
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
        }
        self._records.upsert(doc)
        return doc["id"]

    def list(
        self, reason: str | None, limit: int, continuation: str | None
    ) -> tuple[list[QuarantineRecord], str | None]:
        query = Query(
            where={"reason": reason} if reason else {}, order_by="received", descending=True
        )
        page = self._records.query(query, limit=limit, continuation=continuation)
        return [QuarantineRecord.model_validate(d) for d in page.items], page.continuation

    def counts(self) -> dict[str, int]:
        counts = {
            reason: self._records.count(Query(where={"reason": reason})) for reason in REASONS
        }
        return {reason: n for reason, n in counts.items() if n}
