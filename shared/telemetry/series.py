"""Time series storage: readings binned per device and hour, not one document per reading.

Layout (container `series`, partition key `pk`):

    id      "<devEui>|2026-11-22T10"           one document per device and UTC hour
    pk      "<tenant>|<devEui>|2026-11"        one logical partition per device and month
    q       {"<quantity>": {"u": unit, "m": medium, "v": {"<epoch ms>": value}}}
    up      {"<epoch ms>": {"f": fCnt, "r": rssi, "s": snr, "src": source}}
    ttl     the tenant's retention in seconds

Writing is a merge keyed by (quantity, time), so the same uplink stored twice is one reading.
A write of a bucket is a replace guarded by its ETag. `BucketCache` keeps the documents this
process wrote last: Event Hubs sends each device's events to one partition and so to one
consumer, which then writes a bucket without reading it first; a stale entry costs one 412 and a
re-read, never a lost reading. A month's buckets are one partition, so a query for a day or a
week is a single-partition query.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.lru import Lru
from shared.store import Conflict, Document, NotFound, PreconditionFailed, Query
from shared.store.tenancy import TenantContainer
from shared.telemetry.observations import Observation, iso

_WRITE_ATTEMPTS = 5
MAX_QUERY_DAYS = 400


def bucket_of(time: datetime) -> str:
    """A time's bucket: its RFC 3339 text cut after the hour ("2026-11-22T10"), as `append`
    cuts each observation's `iso_time`."""
    return iso(time)[:13]


def month_of(time: datetime) -> str:
    return time.strftime("%Y-%m")


class BucketCache(Lru[tuple[str, str, str], Document]):
    """The bucket and state documents this process wrote last (with their ETags), keyed by
    (partition, id, "")."""

    def __init__(self, max_entries: int = 50_000) -> None:
        super().__init__(max_entries)


def write_merged(
    container: TenantContainer,
    cache: BucketCache,
    doc_id: str,
    suffix: Sequence[str],
    fresh: Document,
    merge: Any,
) -> Document:
    """Create or ETag-replace `doc_id`, applying `merge(doc)` (idempotent) to the current doc.

    `fresh` is the document to create when none exists. A document missing from the cache is
    created without reading it first: this process has usually not written it because it is new
    (the next hour's bucket), so the guess saves a read per bucket; when the guess is wrong the
    create's Conflict costs one request more than reading first would have. Retries on a lost
    race; raises the store's Unavailable for transient failures (the trigger retries the batch).
    """
    key = (container.partition(*suffix), doc_id, "")
    current = cache.get(key)
    exists = current is not None
    for _ in range(_WRITE_ATTEMPTS):
        if current is None and exists:
            current = container.read(doc_id, *suffix)
        if current is None:
            try:
                written = container.create(merge(fresh), *suffix)
            except Conflict:
                exists = True
                continue
        else:
            doc = dict(current)
            etag = doc.pop("_etag")
            doc = merge(doc)
            try:
                written = container.replace(doc, *suffix, etag=etag)
            except (PreconditionFailed, NotFound):
                cache.forget(key)
                current, exists = None, True
                continue
        cache.put(key, written)
        return written
    raise PreconditionFailed(f"{doc_id}: gave up after {_WRITE_ATTEMPTS} concurrent updates")


@dataclass(frozen=True, slots=True)
class Reading:
    time: datetime
    quantity: str
    value: float
    unit: str


class TimeSeries:
    """One tenant's time series."""

    def __init__(self, series: TenantContainer, cache: BucketCache) -> None:
        self._series = series
        self._cache = cache

    def append(self, observations: Sequence[Observation], retention_days: int) -> int:
        """Store the observations; returns how many readings were new."""
        groups: dict[tuple[str, str], list[tuple[str, Observation]]] = defaultdict(list)
        for o in observations:
            groups[(o.device, o.iso_time[:13])].append((str(o.epoch_ms), o))  # as bucket_of
        ttl = retention_days * 86400
        new = 0
        for (device, bucket), group in groups.items():
            added = 0

            def merge(
                doc: Document, group: list[tuple[str, Observation]] = group
            ) -> Document:
                nonlocal added
                added = 0
                quantities = doc.setdefault("q", {})
                uplinks = doc.setdefault("up", {})
                for stamp, o in group:
                    for reading in o.readings:
                        series = quantities.get(reading["quantity"])
                        if series is None:
                            series = quantities[reading["quantity"]] = {
                                "u": reading["unit"], "m": reading["medium"], "v": {}
                            }
                        values = series["v"]
                        if stamp not in values:
                            added += 1
                        values[stamp] = reading["value"]
                    uplinks[stamp] = {"f": o.fcnt, "r": o.rssi, "s": o.snr, "src": o.source}
                doc["ttl"] = ttl
                return doc

            fresh = {"id": f"{device}|{bucket}", "device": device, "bucket": bucket}
            month = bucket[:7]
            write_merged(self._series, self._cache, fresh["id"], (device, month), fresh, merge)
            new += added
        return new

    def read(
        self,
        device: str,
        start: datetime,
        end: datetime,
        quantity: str | None,
        limit: int,
        continuation: str | None,
    ) -> tuple[list[Reading], str | None]:
        """Readings in [start, end] ordered by time then quantity, `limit` at a time."""
        after = _decode_cursor(continuation)
        readings: list[Reading] = []
        for doc in self._buckets(device, start, end, after):
            for reading in _readings(doc, quantity):
                if not start <= reading.time <= end:
                    continue
                if after is not None and (reading.time, reading.quantity) <= after:
                    continue
                readings.append(reading)
            if len(readings) > limit:
                break
        readings.sort(key=lambda r: (r.time, r.quantity))
        page = readings[:limit]
        more = len(readings) > limit
        return page, _encode_cursor(page[-1]) if more and page else None

    def _buckets(
        self, device: str, start: datetime, end: datetime, after: tuple[datetime, str] | None
    ) -> Iterator[Document]:
        first = max(start, after[0]) if after else start
        month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while month <= end:
            query = Query(range={"bucket": (bucket_of(first), bucket_of(end))}, order_by="bucket")
            token = None
            while True:
                page = self._series.query(
                    query, device, month_of(month), limit=50, continuation=token
                )
                yield from page.items
                token = page.continuation
                if token is None:
                    break
            month = (month + timedelta(days=32)).replace(day=1)


def _readings(doc: Document, quantity: str | None) -> Iterator[Reading]:
    for name, series in doc.get("q", {}).items():
        if quantity is not None and name != quantity:
            continue
        for stamp, value in series["v"].items():
            time = datetime.fromtimestamp(int(stamp) / 1000, UTC)
            yield Reading(time, name, value, series["u"])


def _encode_cursor(reading: Reading) -> str:
    raw = f"{int(reading.time.timestamp() * 1000)}|{reading.quantity}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(token: str | None) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        stamp, quantity = base64.urlsafe_b64decode(token.encode()).decode().split("|", 1)
        return datetime.fromtimestamp(int(stamp) / 1000, UTC), quantity
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid continuation token") from exc
