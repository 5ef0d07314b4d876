"""Time series storage: readings binned per device and hour, not one document per reading.

Layout (container `series`, partition key `pk`):

    id      "<devEui>|2026-11-22T10"           one document per device and UTC hour
    pk      "<tenant>|<devEui>|2026-11"        one logical partition per device and month
    q       {"<quantity>": {"u": unit, "m": medium, "v": {"<epoch ms>": value}}}
    up      {"<epoch ms>": {"f": fCnt, "r": rssi, "s": snr, "src": source}}
    ttl     the tenant's retention in seconds

The newest hour of each device, its *open hour*, is not in this container yet: it rides in the
device's latest-state document (`openBucket`, and `open` with the same `q` and `up`), which
ingest writes once per batch anyway for the frame-counter session. A device reporting every 10
minutes thus costs one document write per batch instead of two. When a newer hour arrives, the
open hour is *sealed*: written here as its bucket document, before the state that drops it is
committed. Readings for an hour older than the open one (a late or redelivered uplink) go
straight to their bucket here. Reads add the open hour to the buckets they find, and an hourly
sweep (`seal_stale_hours`) seals the open hours of devices that have gone quiet, so every hour
reaches this container and its retention.

Writing is a merge keyed by (quantity, time), so the same uplink stored twice is one reading, and
sealing an hour twice (a retried batch) changes nothing. A write of a bucket is a replace guarded
by its ETag. `BucketCache` keeps the documents this process wrote last: Event Hubs sends each
device's events to one partition and so to one consumer, which then writes a bucket without
reading it first; a stale entry costs one 412 and a re-read, never a lost reading. A month's
buckets are one partition, so a query for a day or a week is a single-partition query.
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.lru import Lru
from shared.store import (
    Document,
    InvalidRequest,
    PreconditionFailed,
    Query,
    Write,
    pause_before_retry,
)
from shared.store.tenancy import TenantContainer
from shared.telemetry.observations import Observation, from_unix_ms, iso, unix_ms

_WRITE_ATTEMPTS = 6
MAX_QUERY_DAYS = 400
#: Hours one page of a device's observations reads at most: a bound on one request's work when
#: the quantity asked for is rare in a long range (400 days are 9,600 hours).
MAX_PAGE_HOURS = 200
#: Hour documents asked for per store query while a page is read: few at first, as one full
#: hour may hold the page (and be megabytes), then twice as many per query up to the most.
_FIRST_HOURS_PER_QUERY = 2
_MOST_HOURS_PER_QUERY = 50
SWEEP_PAGE = 500
#: Readings one device may store per hour. An hour is one document (the open hour in the
#: device's state, then its bucket), and Cosmos DB refuses items over 2 MB: at ~150 bytes per
#: reading at worst (one reading per uplink, with its FCnt, signal and source), this keeps an
#: hour near 1.5 MB, with room for the state's session.
MAX_HOUR_READINGS = 10_000
#: Two network servers forward one frame within this long of each other (in practice ~1 s).
SAME_FRAME_WINDOW_MS = 60_000
MAX_SWEEP_PAGES = 1_000  # a bound on one tenant's sweep: 500,000 quiet devices


#: Observations of one device and hour, each with its time as the bucket's key (epoch ms text).
Group = list[tuple[str, Observation]]


def bucket_of(time: datetime) -> str:
    """A time's bucket: its RFC 3339 text cut after the hour ("2026-11-22T10"), as
    `group_by_bucket` cuts each observation's `iso_time`."""
    return iso(time)[:13]


def group_by_bucket(observations: Sequence[Observation]) -> dict[str, Group]:
    """One device's observations by bucket."""
    groups: dict[str, Group] = defaultdict(list)
    for o in observations:
        groups[o.iso_time[:13]].append((str(o.epoch_ms), o))  # as bucket_of
    return groups


def _open_hour_after(groups: Mapping[str, Group], state: Document | None) -> str:
    """The hour a device's state keeps open once these groups are stored: the newest of its
    open hour and theirs; "" (none) after the sweep sealed it, unless they are newer."""
    current, _ = open_hour_of(state)
    newest = max(groups)
    if current is None:
        sealed_through = ((state or {}).get("time") or "")[:13]  # as bucket_of
        return newest if newest > sealed_through else ""
    return newest if newest > current else current


def merge_observations(bucket: Document, group: Group) -> int:
    """Merge a group into a bucket's `q` and `up` (a bucket document or an open hour); returns
    how many of its readings the bucket did not have. Copy-on-write: the parts it changes are
    replaced by changed copies (see `write_merged`)."""
    added = 0
    quantities = bucket["q"] = dict(bucket.get("q", {}))
    uplinks = bucket["up"] = dict(bucket.get("up", {}))
    copied: set[str] = set()
    for stamp, o in group:
        by_quantity = {reading["quantity"]: reading["value"] for reading in o.readings}
        if _heard_via_another_network(quantities, uplinks, stamp, o.fcnt, o.source, by_quantity):
            continue
        for reading in o.readings:
            quantity = reading["quantity"]
            series = quantities.get(quantity)
            if series is None:
                series = quantities[quantity] = {
                    "u": reading["unit"], "m": reading["medium"], "v": {}
                }
                copied.add(quantity)
            elif quantity not in copied:
                series = quantities[quantity] = {**series, "v": dict(series["v"])}
                copied.add(quantity)
            values = series["v"]
            if stamp not in values:
                added += 1
            values[stamp] = reading["value"]
        uplinks[stamp] = {"f": o.fcnt, "r": o.rssi, "s": o.snr, "src": o.source}
    return added


def _heard_via_another_network(
    quantities: Document,
    uplinks: Document,
    stamp: str,
    fcnt: int | None,
    source: str,
    values: Mapping[str, object],
) -> bool:
    """Whether the bucket holds this LoRaWAN frame already, as another network server forwarded
    it: same FCnt, same values, another source, received within SAME_FRAME_WINDOW_MS.

    Ingest drops a frame it has seen by its FCnt, but two network servers delivering one frame
    at the same moment can both pass that check before either commits; each stamps the frame
    with its own receive time, so without this the bucket would hold it twice. So can two
    copies of an hour (see `merge_bucket`).
    """
    if stamp in uplinks or fcnt is None:
        return False
    at = int(stamp)
    for other, uplink in uplinks.items():
        if (
            uplink["f"] == fcnt
            and uplink["src"] != source
            and abs(int(other) - at) <= SAME_FRAME_WINDOW_MS
            and all(
                quantities.get(quantity, {}).get("v", {}).get(other) == value
                for quantity, value in values.items()
            )
        ):
            return True
    return False


def merge_bucket(bucket: Document, other: Document) -> Document:
    """Union another copy of the same hour (`q` and `up`) into `bucket`; returns `bucket`.
    Copy-on-write, like `merge_observations`, and like it leaving out a frame the bucket holds
    as another network server forwarded it: each copy of the hour may have taken one network
    server's copy of a frame (e.g. a device deleted and registered again: its old hour was
    sealed with one, the new registration's open hour took the other)."""
    quantities = bucket["q"] = dict(bucket.get("q", {}))
    uplinks = bucket["up"] = dict(bucket.get("up", {}))
    incoming = other.get("q", {})
    known = {
        stamp for stamp, uplink in other.get("up", {}).items()
        if _heard_via_another_network(
            quantities, uplinks, stamp, uplink["f"], uplink["src"], _values_at(incoming, stamp)
        )
    }
    for quantity, series in incoming.items():
        values = {stamp: value for stamp, value in series["v"].items() if stamp not in known}
        mine = quantities.get(quantity)
        if mine is None:
            quantities[quantity] = {"u": series["u"], "m": series["m"], "v": values}
        else:
            quantities[quantity] = {**mine, "v": mine["v"] | values}
    uplinks.update(
        (stamp, uplink) for stamp, uplink in other.get("up", {}).items() if stamp not in known
    )
    return bucket


def _values_at(quantities: Document, stamp: str) -> dict[str, object]:
    """An hour's values at one time, by quantity."""
    return {
        quantity: series["v"][stamp]
        for quantity, series in quantities.items()
        if stamp in series["v"]
    }


def open_hour_of(state: Document | None) -> tuple[str | None, Document | None]:
    """A latest-state document's open hour: its bucket and its `q` and `up`, or (None, None)."""
    if not state or not state.get("open"):
        return None, None
    return state["openBucket"], state["open"]


def hour_sizes(state: Document | None) -> dict[str, int]:
    """The readings in a latest-state document's open hour, by bucket (none: empty)."""
    bucket, hour = open_hour_of(state)
    if bucket is None or hour is None:
        return {}
    return {bucket: sum(len(series["v"]) for series in hour.get("q", {}).values())}


def month_of(time: datetime) -> str:
    return time.strftime("%Y-%m")


class BucketCache(Lru[tuple[str, str], Document]):
    """The bucket and state documents this process wrote last (with their ETags), keyed by
    (partition, id). Bounded by documents and by the uplinks their hours hold together: a
    device may send 10,000 readings an hour, about 5 MB of a state's open hour in memory."""

    def __init__(self, max_entries: int = 50_000, max_uplinks: int = 500_000) -> None:
        super().__init__(max_entries, _uplinks_held, max_uplinks)


def _uplinks_held(doc: Document) -> int:
    """What a cached document weighs: the uplinks of its hour (a state's open hour), at least 1."""
    hour = doc.get("open") or doc
    return len(hour.get("up") or ()) + 1


#: Applies a batch's changes to a document (idempotent: applying it twice changes nothing more);
#: None when the document must not be written after all (see `write_merged`).
Merge = Callable[[Document], Document | None]


def write_merged(
    container: TenantContainer,
    cache: BucketCache,
    merges: Sequence[tuple[Document, Merge]],
    *suffix: str,
) -> dict[str, Document]:
    """Create or ETag-replace documents of one partition, applying each `merge` (idempotent) to
    its document as it is; `fresh` (with the `id`) is the document to create when none exists.
    Returns the documents written, as written (with their new `_etag`), by id.

    A merge is given a shallow copy of the document with its `_etag` (none: the document is to
    be created), so it can tell whether the document is still the one its batch was planned
    on. It may set the copy's fields, but must not change its nested parts in place: they are
    shared with the cached document, which other threads read. What it changes inside, it
    replaces with a changed copy (copy-on-write, e.g. `merge_observations`): copying whole
    documents would cost a chatty device's hour of readings on every write. A merge that
    returns None writes nothing (e.g. a state whose device was deleted meanwhile).

    All of them go in one `write_all` (on Cosmos one request per transactional batch of up to
    100), built from the cached documents. A document missing from the cache is created without
    reading it first: this process has usually not written it because it is new (the next
    hour's bucket, a new device's state), so the guess saves a read; when it is wrong, the
    failed create costs one request more than reading first would have. The writes that were
    not applied (another consumer came first; or, on Cosmos, their batch was rolled back for
    another write) are read again together, merged and written again, after a short random
    pause so that two consumers contending for one document do not collide again at once.
    Raises the store's Unavailable for transient failures (the trigger retries the batch).
    """
    partition = container.partition(*suffix)
    pending = list(merges)
    current = {fresh["id"]: cache.get((partition, fresh["id"])) for fresh, _ in pending}
    applied: dict[str, Document] = {}
    for attempt in range(_WRITE_ATTEMPTS):
        if attempt:
            pause_before_retry(attempt)
        writing = []
        for fresh, merge in pending:
            stored = current[fresh["id"]]
            merged = merge(dict(fresh if stored is None else stored))
            if merged is not None:
                writing.append(((fresh, merge), Write(merged, merged.pop("_etag", None))))
        if not writing:
            return applied
        results = container.write_all([write for _, write in writing], *suffix)
        failed = []
        for (item, _), written in zip(writing, results, strict=True):
            if written is None:
                failed.append(item)
            else:
                cache.put((partition, item[0]["id"]), written)
                applied[written["id"]] = written
        if not failed:
            return applied
        pending = failed
        current = read_current(container, [fresh["id"] for fresh, _ in pending], *suffix)
    ids = ", ".join(fresh["id"] for fresh, _ in pending)
    raise PreconditionFailed(f"{ids}: gave up after {_WRITE_ATTEMPTS} concurrent updates")


def read_current(
    container: TenantContainer, ids: list[str], *suffix: str
) -> dict[str, Document | None]:
    """The documents as stored now (None: there is none): a point read for one (the cheapest
    request), one query for several."""
    if len(ids) == 1:
        return {ids[0]: container.read(ids[0], *suffix)}
    found = {doc["id"]: doc for doc in container.read_many(ids, *suffix)}
    return {id: found.get(id) for id in ids}


@dataclass(frozen=True, slots=True)
class StoredReading:
    """One reading as an hour document keeps it: what the observations API lists."""

    time: datetime
    quantity: str
    value: float
    unit: str


class TimeSeries:
    """One tenant's time series: bucket documents, plus each device's open hour (read from its
    latest-state document, which ingest writes)."""

    def __init__(
        self, series: TenantContainer, latest: TenantContainer, cache: BucketCache
    ) -> None:
        self._series = series
        self._latest = latest
        self._cache = cache

    def append(
        self,
        device: str,
        observations: Sequence[Observation],
        state: Document | None,
        ttl: int,
    ) -> tuple[OpenHourUpdate, int]:
        """Store one device's observations, except those of the hour that stays open.

        The open hour becomes the newest of the hours in the device's `state` and in the
        observations; every other hour's readings are written to its bucket, and the state's
        open hour, if no longer the newest, is sealed. A state the sweep sealed (no open hour)
        is not given one of the hours up to its newest reading: such an hour may have its
        bucket already, and would be sealed into it again, past the hourly limit that counted
        only the open part. Returns what the state write must merge, and how many readings
        written here were new.
        """
        groups = group_by_bucket(observations)
        current, open_hour = open_hour_of(state)
        target = _open_hour_after(groups, state)
        new = 0
        for bucket, group in groups.items():
            if bucket != target:
                new += self.write(device, bucket, group, ttl)
        if current is not None and current != target:
            self.seal(device, current, open_hour, ttl)
        planned_on = state.get("_etag") if state else None
        update = OpenHourUpdate(self, device, target, groups.get(target, []), planned_on, ttl)
        return update, new

    @staticmethod
    def writes_elsewhere(observations: Sequence[Observation], state: Document | None) -> bool:
        """Whether `append` writes some of these readings to bucket documents (not all of them
        belong to the hour that stays open), before the state commits."""
        groups = group_by_bucket(observations)
        return len(groups.keys() - {_open_hour_after(groups, state)}) > 0

    def write(self, device: str, bucket: str, group: Group, ttl: int) -> int:
        """Merge a group into its bucket document; returns how many readings were new."""
        added = 0

        def merge(doc: Document) -> Document:
            nonlocal added
            added = merge_observations(doc, group)
            doc["ttl"] = ttl
            return doc

        self._put(device, bucket, merge)
        return added

    def seal(self, device: str, bucket: str, open_hour: Document, ttl: int) -> None:
        """Write an open hour (a latest-state document's `open`) to its bucket document."""

        def merge(doc: Document) -> Document:
            merge_bucket(doc, open_hour)
            doc["ttl"] = ttl
            return doc

        self._put(device, bucket, merge)
        # A sealed hour is seldom written again (a late reading reads it first): kept in memory,
        # every device would add an hour's document to the process each hour, for good.
        self._cache.forget((self._series.partition(device, bucket[:7]), f"{device}|{bucket}"))

    def seal_stale_hours(self, before: str, ttl: int) -> int:
        """Seal every open hour of bucket `before` or older (devices that have gone quiet) and
        drop it from its state; returns how many were sealed.

        A page of such states is sealed as the query returned them (no read each): the hours go
        to their buckets, then the states without them are written together (`write_all`, one
        request per 100 on Cosmos), which is why the query reads them whole (no projection).
        Each page is queried from the start: the states written drop out of the query, and one
        that ingest wrote meanwhile comes back as it is now, to be sealed again (at most
        `_WRITE_ATTEMPTS` times in one sweep).
        """
        query = Query(range={"openBucket": (None, before)})
        attempts: Counter[str] = Counter()
        sealed = 0
        for _ in range(MAX_SWEEP_PAGES):
            page = self._latest.query(query, limit=SWEEP_PAGE)
            states = [doc for doc in page.items if attempts[doc["id"]] < _WRITE_ATTEMPTS]
            if not states:  # done, or only states that keep changing are left: the next sweep
                break
            attempts.update(doc["id"] for doc in states)
            sealed += self._seal_states(states, ttl)
        return sealed

    def _seal_states(self, states: list[Document], ttl: int) -> int:
        """Seal the states' open hours, then write the states without them; returns how many
        states were written (the others changed since they were read)."""
        writes = []
        for state in states:
            bucket, hour = open_hour_of(state)
            if bucket is None or hour is None:
                continue
            self.seal(state["id"], bucket, hour, ttl)
            doc = dict(state)
            etag = doc.pop("_etag")
            del doc["openBucket"], doc["open"]
            writes.append(Write(doc, etag))
        sealed = 0
        for written in self._latest.write_all(writes):
            if written is not None:
                self._cache.put((self._latest.partition(), written["id"]), written)
                sealed += 1
        return sealed

    def hour_size(self, device: str, bucket: str) -> int:
        """How many readings the document of one device's hour holds (0: it has none)."""
        month, id = bucket[:7], f"{device}|{bucket}"
        doc = self._cache.get((self._series.partition(device, month), id))
        if doc is None:
            doc = self._series.read(id, device, month)
        return sum(len(series["v"]) for series in (doc or {}).get("q", {}).values())

    def _put(self, device: str, bucket: str, merge: Merge) -> None:
        fresh = {"id": f"{device}|{bucket}", "device": device, "bucket": bucket}
        write_merged(self._series, self._cache, [(fresh, merge)], device, bucket[:7])

    def read(
        self,
        device: str,
        start: datetime,
        end: datetime,
        quantity: str | None,
        limit: int,
        continuation: str | None,
    ) -> tuple[list[StoredReading], str | None]:
        """Readings in [start, end) ordered by time then quantity, `limit` at a time: the end
        is exclusive, so consecutive windows (a day, then the next) share no reading.

        One call reads at most MAX_PAGE_HOURS hours: where few of them hold the quantity asked
        for, the page is short (even empty) and its token resumes after the last hour read.
        """
        after = _decode_cursor(continuation)
        readings: list[StoredReading] = []
        resume_at: datetime | None = None
        last = end - timedelta(microseconds=1)
        for hours, doc in enumerate(self._buckets(device, start, last, after), 1):
            for reading in _readings(doc, quantity):
                if not start <= reading.time < end:
                    continue
                if after is not None and (reading.time, reading.quantity) <= after:
                    continue
                readings.append(reading)
            if len(readings) > limit:
                break
            if hours == MAX_PAGE_HOURS:
                resume_at = _hour_start(doc["bucket"]) + timedelta(hours=1)
                break
        readings.sort(key=lambda r: (r.time, r.quantity))
        page = readings[:limit]
        if len(readings) > limit:
            return page, _encode_cursor(page[-1].time, page[-1].quantity)
        if resume_at is not None and resume_at < end:
            return page, _encode_cursor(resume_at, "")  # "": every reading from then on
        return page, None

    def _buckets(
        self, device: str, start: datetime, end: datetime, after: tuple[datetime, str] | None
    ) -> Iterator[Document]:
        """The device's buckets overlapping [start or the cursor, end], in time order, its open
        hour among them (usually the newest, but a late device-timed reading can open an hour
        older than one the sweep sealed). At most MAX_PAGE_HOURS come from the store; when
        that cuts them short, a newer open hour is left for the page after."""
        first = max(start, after[0]) if after else start
        low, high = bucket_of(first), bucket_of(end)
        open_bucket, open_hour = open_hour_of(self._latest.read(device))
        if open_bucket is None or not low <= open_bucket <= high:
            open_hour = None
        month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        hours_per_query, unread = _FIRST_HOURS_PER_QUERY, MAX_PAGE_HOURS  # a page reads no more
        while month <= end and unread > 0:
            query = Query(range={"bucket": (low, high)}, order_by="bucket")
            token = None
            while unread > 0:
                page = self._series.query(
                    query, device, month_of(month), limit=min(hours_per_query, unread),
                    continuation=token,
                )
                hours_per_query = min(2 * hours_per_query, _MOST_HOURS_PER_QUERY)
                unread -= len(page.items)
                for doc in page.items:
                    if open_hour is not None and open_bucket < doc["bucket"]:
                        yield {"bucket": open_bucket, **open_hour}
                        open_hour = None
                    if open_hour is not None and doc["bucket"] == open_bucket:
                        # Sealed by a batch whose state commit did not happen (it is retried).
                        doc, open_hour = merge_bucket(doc, open_hour), None
                    yield doc
                token = page.continuation
                if token is None:
                    break
            month = (month + timedelta(days=32)).replace(day=1)
        if open_hour is not None and unread > 0:  # else hours between may be unread yet
            yield {"bucket": open_bucket, **open_hour}


@dataclass(frozen=True, slots=True)
class OpenHourUpdate:
    """What `TimeSeries.append` leaves for the device's state write: its open hour's readings."""

    series: TimeSeries
    device: str
    bucket: str
    group: Group
    planned_on: str | None  # the ETag of the state append was given (None: it had none)
    ttl: int

    def merge_into(self, state: Document) -> int:
        """Merge the readings into the open hour of `state` (a private copy of the device's
        latest-state document, with its `_etag`, being written); returns how many were new.

        Another ETag than `planned_on` means another consumer wrote the state meanwhile, and
        its open hour may be one append did not see: of the two hours the older is sealed, the
        newer stays open. An hour the sweep sealed meanwhile stays sealed (`state`'s `time` is
        still the stored one, not yet this batch's).
        """
        if not self.group:
            return 0
        bucket, hour = open_hour_of(state)
        if state.get("_etag") != self.planned_on:
            sealed_through = (state.get("time") or "")[:13] if bucket is None else ""
            if (bucket is not None and bucket > self.bucket) or self.bucket <= sealed_through:
                # A newer hour is open, or the sweep sealed this one meanwhile: reopened, it
                # would be counted against the hourly limit without what its bucket holds.
                return self.series.write(self.device, self.bucket, self.group, self.ttl)
            if bucket is not None and bucket < self.bucket:
                self.series.seal(self.device, bucket, hour, self.ttl)
        hour = {"q": {}, "up": {}} if hour is None or bucket != self.bucket else dict(hour)
        state["openBucket"], state["open"] = self.bucket, hour
        return merge_observations(hour, self.group)


def _readings(doc: Document, quantity: str | None) -> Iterator[StoredReading]:
    for name, series in doc.get("q", {}).items():
        if quantity is not None and name != quantity:
            continue
        for stamp, value in series["v"].items():
            time = from_unix_ms(int(stamp))
            yield StoredReading(time, name, value, series["u"])


def _hour_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _encode_cursor(time: datetime, quantity: str) -> str:
    """A page's position: the readings after (time, quantity) come next."""
    raw = f"{unix_ms(time)}|{quantity}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(token: str | None) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        stamp, quantity = base64.urlsafe_b64decode(token.encode()).decode().split("|", 1)
        return from_unix_ms(int(stamp)), quantity
    except (ValueError, UnicodeDecodeError, OverflowError) as exc:
        # OverflowError: a number no date has (not a token this module made)
        raise InvalidRequest("invalid continuation token") from exc
