"""The ingest core: every entrypoint (IoT Hub, TTN, ChirpStack, device HTTP) ends here.

For one tenant's batch of deliveries:

1. look the devices up (cached), and check their latest-state documents against the store
   (their ETags in one request, then the changed ones in one more), which hold the LoRaWAN
   session (DevAddr, last FCnt, a window of recently seen FCnts with payload hashes, or of
   clear messages' hashes with their receive times, the outbox);
2. per uplink, in FCnt order: drop exact redeliveries (same FCnt, same payload) as duplicates,
   quarantine replays (same FCnt, other payload) and regressions; decrypt with the device's own
   key (LoRaWAN AppSKey, or the AES-GCM envelope key); decode with the model's codec; normalise;
3. merge the readings of past hours into the time series (idempotent), then commit each
   device's latest state: its session, its newest values and the readings of its newest hour
   (see `series`), in one write. The tenant's states share a partition, so on Cosmos up to 100
   of them share one request;
4. publish the observations as CloudEvents with deterministic ids.

The state commit also puts the batch's frames in the session's outbox (`pending`): a crash or
a bus failure after it leaves them there, and their redelivery by the same source, though a
duplicate, publishes them again; a frame this process published leaves the outbox with the
device's next commit, and any frame after `OUTBOX_HORIZON_S`. A crash before the commit is
safe too: the redelivered batch is reprocessed and the series merge stores nothing twice.
A batch whose devices' states another batch changed meanwhile in a way its judgement
depends on (a frame taken, a device deleted and registered again) is judged again
(`_Rejudge`). Rejections are quarantined last, once the batch's judgement stands.
A bad message never fails the batch: it becomes a quarantine record with its reason. Transient
store or bus failures propagate, so the trigger retries the whole batch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from shared.bus import OBSERVATIONS, BusError, EventBus
from shared.errors import ChangedMeanwhile, NotFound
from shared.keys import KeyRefused, KeyStore, KeyStoreError, TenantKeys
from shared.lru import Lru
from shared.store import (
    Document,
    DocumentStore,
    PreconditionFailed,
    StoreError,
    until_unchanged,
)
from shared.store import NotFound as StoreNotFound
from shared.store.tenancy import TenantContainer
from shared.telemetry.codecs import CodecError, get_codec
from shared.telemetry.codecs.quantities import EARLIEST_DEVICE_TIME
from shared.telemetry.devices import (
    DeviceCache,
    DevicePublic,
    DeviceRegistry,
    DeviceUpsert,
    aes_key_name,
    app_s_key_name,
)
from shared.telemetry.envelope import EnvelopeError, open_envelope
from shared.telemetry.lorawan import CipherCache, FrmPayloadCipher
from shared.telemetry.observations import (
    MAX_CLOCK_AHEAD,
    Observation,
    Reading,
    event,
    iso,
    normalise,
)
from shared.telemetry.quarantine import Quarantine
from shared.telemetry.series import (
    MAX_HOUR_READINGS,
    BucketCache,
    OpenHourUpdate,
    TimeSeries,
    bucket_of,
    hour_sizes,
    open_hour_of,
    read_current,
    write_merged,
)
from shared.telemetry.uplinks import Ignored, MalformedUplink, Uplink, parse_device_body
from shared.tenants.model import PLATFORM_PARTITION
from shared.tenants.service import TenantService

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How many recent FCnts a device's session remembers; an older, unseen FCnt is a regression.
FCNT_WINDOW = 64
_PUBLISHED_ENTRIES = 200_000
#: Frames a device's outbox holds at most: a whole Event Hubs batch (256) and then some.
MAX_PENDING = 300
#: Frames replayed from before the window that a session remembers, against a second copy.
MAX_REPLAYED = 512
#: How long a committed frame stays in the outbox unless its host saw it published: longer
#: than an Event Hubs outage the host's retries ride out (its own failed publishes it keeps in
#: memory, however long), should the partition then move to another host.
OUTBOX_HORIZON_S = 60 * 60
_TENANT_TTL_S = 60.0
#: The sweep seals an open hour once its device has been quiet for the whole hour after it.
QUIET_AFTER = timedelta(hours=2)
MAX_TENANT_PAGES = 100
_REWRITE_ATTEMPTS = 5
#: How often a batch is judged at most, when other batches change its devices' sessions.
_JUDGEMENTS = 3
#: IoT Hub device ids are at most 128 characters; a longer sender is not one.
MAX_SENDER_CHARS = 128


#: Quarantine reasons of frames refused before the session judged their counter: a replay of
#: one is not held to the window the device's later frames have moved (see `Delivery`).
_COUNTED_LATER = frozenset(
    {"unknown_tenant", "unknown_device", "no_key", "decrypt_failed", "decode_failed",
     "internal_error"}
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as it arrived: its source, its original bytes, and what parsing made of it."""

    source: str
    raw: bytes
    parsed: Uplink | Ignored | MalformedUplink
    #: An IP device's message: the sender and receive time its entry point knew (IoT Hub's
    #: device id and enqueued time; the URL's device), kept with it if the body is refused.
    #: A replayed message: when its quarantine record was made (it arrived then).
    sender: str | None = None
    received: datetime | None = None
    #: A message replayed from the quarantine: the reason it was kept there.
    replay_of: str | None = None

    @property
    def judged_by_window(self) -> bool:
        """Whether its frame counter is held to the session's window. A replayed frame is not
        if it was set aside before its counter counted (`_COUNTED_LATER`: the frames that
        arrived since have moved the window past it); it is still checked for duplicates.
        Frames the session itself refused (`fcnt_regressed`, `fcnt_replayed`, `devaddr_changed`)
        are judged by it again: else a captured frame sent in with a cut payload, refused as
        `fcnt_replayed`, would be stored by a routine replay."""
        return self.replay_of not in _COUNTED_LATER


def deliver(source: str, raw: bytes, parse: Any, *args: Any) -> Delivery:
    """Parse `raw` with `parse(raw, *args)`, keeping a parse failure as the delivery's outcome.

    A parser's own bug is such an outcome too (`internal_error`, replayable once fixed): one
    message must not fail the batch it came in.
    """
    try:
        return Delivery(source, raw, parse(raw, *args))
    except MalformedUplink as exc:
        return Delivery(source, raw, exc)
    except Exception as exc:
        log.exception("the %s parser failed", source)
        detail = f"the {source} parser failed: {type(exc).__name__}"
        return Delivery(source, raw, MalformedUplink("internal_error", detail))


def deliver_from_device(source: str, raw: bytes, device_id: str, received: datetime) -> Delivery:
    """An IP device's message (`source` iothub or http): parsed with the sender and receive
    time its entry point knows, which its quarantine record keeps even if the body does not
    parse, so that two devices' refused messages are two records naming their senders."""
    delivery = deliver(source, raw, parse_device_body, device_id, received, source)
    return replace(delivery, sender=device_id[:MAX_SENDER_CHARS], received=received)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    detail: str  # as the quarantine record keeps it, for the tenant's admins
    quarantine_id: str
    device: str | None
    told: str  # what the sender is answered and the log says (see `_Rejected.told`)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    readings: int = 0
    observations: list[Observation] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class _Outcome:
    """What became of one device's frames in a batch."""

    accepted: list[Delivery] = field(default_factory=list)
    duplicates: int = 0
    observations: list[Observation] = field(default_factory=list)
    #: Of redelivered frames still in the outbox: published again, not stored again.
    republished: list[Observation] = field(default_factory=list)
    rejected: list[tuple[Delivery, _Rejected]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Redelivered:
    """A frame already accepted; `to_publish` are its observations when its events may not
    have been published (it is in its session's outbox)."""

    to_publish: list[Observation]


class _Rejudge(Exception):
    """The batch was judged on a device state that another batch has since changed in a way
    the judgement depends on: judge it again on the state as it is now. Everything written so
    far is an idempotent merge, and nothing was published or quarantined yet."""


class _Reregistered(_Rejudge):
    """A device's state vanished under a batch, and the device is registered again."""


class _SeenElsewhere(_Rejudge):
    """A frame (counter) this batch accepted was accepted meanwhile by a batch on another thread
    or host: the same frame (from a second network server, or delivered twice), or another
    payload under its counter (a replay). Judged again, it is a duplicate or refused, as if the
    two batches had come one after the other."""


class _Duplicate(Exception):
    """An exact redelivery of an uplink already accepted: not stored again (its events may be
    published again from the outbox, see `_Redelivered`)."""


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str, told: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        #: What the sender is told, and the log says: the detail, unless that tells what a
        #: keyed device's payload decrypted to. The sender (a network server with an ingest
        #: key) could then learn the readings, or the keystream to forge some, by sending
        #: altered frames; only the tenant's quarantine keeps such a detail.
        self.told = detail if told is None else told


@dataclass
class _Session:
    """A device's LoRaWAN session as ingest tracks it, loaded from its latest-state document.

    `loaded_from` is that document's ETag (None: there was none): when the document still has
    it at commit, nobody else wrote it meanwhile and this session simply replaces the stored
    one. `epoch` counts the session's resets (`Ingestor.reset_session`): a reset made after the
    load wins over what this batch saw.

    `hours` counts the readings of each hour known so far, to hold the device to
    `MAX_HOUR_READINGS`: the open hour's, and those of an hour up to the device's newest one,
    which may have its document already (`hour_size` reads it), then this batch's.
    """

    hour_size: Callable[[str], int]
    dev_addr: int | None = None
    last: int | None = None
    #: The window: FCnt: payload digest; a clear message's digest: its receive time (RFC 3339;
    #: sessions stored before receive times were kept have the digest again).
    seen: dict[str, str] = field(default_factory=dict)
    #: The newest receive time of the clear messages the window let go: one received no later
    #: is a copy of one of those (see `forgot`).
    forgotten: str | None = None
    #: Frames replayed from the quarantine from before the window (FCnt: digest), kept apart
    #: from `seen`, whose newest counters they would push out.
    replayed: dict[str, str] = field(default_factory=dict)
    loaded_from: str | None = None
    epoch: int = 0
    #: The outbox: frames whose events were committed with the state and may not have been
    #: published (FCnt or digest: [commit time, source, receive time (RFC 3339)]). A
    #: redelivery of one by its source publishes it again, as first received; the same frame
    #: from another network server is only a duplicate.
    outbox: dict[str, list[Any]] = field(default_factory=dict)
    #: This batch's frames: (source, receive time, digest)
    accepted: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    #: Those of them that are clear messages held to the window (not replayed from the
    #: quarantine): one no newer than what a session let go (`forgotten`) is a copy.
    held_to_window: set[str] = field(default_factory=set)
    republished: list[str] = field(default_factory=list)  # redelivered from the outbox
    changed: bool = False
    hours: dict[str, int] = field(default_factory=dict)
    newest_hour: str = ""

    @classmethod
    def load(
        cls,
        doc: Document | None,
        published: Callable[[str, str], bool],
        hour_size: Callable[[str], int],
        now: int,
    ) -> _Session:
        """The session in a state document. Its outbox keeps the frames committed less than
        `OUTBOX_HORIZON_S` ago that this process does not know it published (`published(key,
        digest)`: by FCnt and payload, as a reset device counts from 1 again): a failed publish
        is retried within minutes (by this host, or another after a crash), and an outbox
        no host clears must not grow, nor republish every later copy of its frames."""
        doc = doc or {}
        state = doc.get("session") or {}
        seen = dict(state.get("seen", {}))
        replayed = state.get("replayed")
        replayed = dict(replayed) if isinstance(replayed, dict) else {}
        pending = state.get("pending")
        outbox = {
            key: entry for key, entry in (pending if isinstance(pending, dict) else {}).items()
            if isinstance(entry, list) and len(entry) in (2, 3)  # [commit, source(, received)]
            and now - entry[0] < OUTBOX_HORIZON_S
            and not published(key, _digest_of(key, seen, replayed))
        }
        return cls(
            hour_size,
            dev_addr=state.get("devAddr"),
            last=state.get("last"),
            seen=seen,
            forgotten=state.get("forgotten"),
            replayed=replayed,
            loaded_from=doc.get("_etag"),
            epoch=doc.get("sessionEpoch", 0),
            outbox=outbox,
            hours=hour_sizes(doc),
            newest_hour=(doc.get("time") or "")[:13],
        )

    def count(self, observations: Sequence[Observation]) -> None:
        """Add the observations' readings to their hours; raises _Rejected('too_large') when
        one would exceed MAX_HOUR_READINGS (and then counts nothing)."""
        added: dict[str, int] = {}
        for o in observations:
            bucket = o.iso_time[:13]  # as series.bucket_of
            added[bucket] = added.get(bucket, 0) + len(o.readings)
        hours = self.hours
        for bucket, readings in added.items():
            if bucket not in hours:
                hours[bucket] = self.hour_size(bucket) if bucket <= self.newest_hour else 0
            if hours[bucket] + readings > MAX_HOUR_READINGS:
                raise _Rejected(
                    "too_large",
                    f"the device sent more than {MAX_HOUR_READINGS} readings for the hour "
                    f"{bucket}:00Z, more than one hour's document holds; it must send less often",
                )
        for bucket, readings in added.items():
            hours[bucket] += readings

    def digests(self) -> Iterator[tuple[str, str]]:
        """The frames this batch publishes (accepted, or again from the outbox) and digests."""
        for key in self.republished:
            yield key, _digest_of(key, self.seen, self.replayed)
        for key, (_, _, digest) in self.accepted.items():
            yield key, digest

    def dump(self, now: int) -> dict[str, Any]:
        """The session as its state document stores it (see `_session_document`), with this
        batch's frames in the outbox."""
        outbox = {k: entry for k, entry in self.outbox.items() if k not in self.accepted}
        outbox.update(
            (key, [now, source, received]) for key, (source, received, _) in self.accepted.items()
        )
        return _session_document(
            self.dev_addr, self.last, self.seen, outbox, self.replayed, self.forgotten
        )

    def taken_by(self, stored: Mapping[str, Any] | None) -> bool:
        """Whether a session stored meanwhile took a frame this batch accepted: it has seen it
        (by FCnt, or digest), or let go of clear messages no older than one of this batch's."""
        stored = stored or {}
        seen = stored.get("seen", {}).keys() | stored.get("replayed", {}).keys()
        if not seen.isdisjoint(self.accepted):
            return True
        forgotten = stored.get("forgotten")
        return forgotten is not None and any(
            _not_older(forgotten, self.accepted[key][1]) for key in self.held_to_window
        )

    def forgot(self, received: datetime) -> bool:
        """Whether a clear message received then is older than what the window remembers: a
        copy of one it let go (a partition replayed from a checkpoint). A device's new messages
        come later: IoT Hub enqueues them in order, and its HTTP posts that two hosts commit
        out of order are milliseconds apart, not a window of messages."""
        return self.forgotten is not None and _not_older(self.forgotten, iso(received))


def _session_document(
    dev_addr: int | None,
    last: int | None,
    seen: dict[str, str],
    outbox: dict[str, Any],
    replayed: dict[str, str],
    forgotten: str | None,
) -> dict[str, Any]:
    """A session with the `FCNT_WINDOW` highest frame counters seen (or, for a device that
    sends none, the most recently seen payload digests, and the newest receive time of those
    it let go), the outbox (at most `MAX_PENDING`) and the last `MAX_REPLAYED` frames replayed
    from before the window. Frames in the outbox stay seen, however many a batch brought: its
    retry must find them all duplicates, to publish them. Trims `seen` in place.

    By counter, not by arrival: a late frame (or two hosts' sessions merged) would otherwise
    push out a newer counter still inside the window, whose captured frame, sent again, would
    then be taken for a new one."""
    pending = dict(list(outbox.items())[-MAX_PENDING:])
    excess = len(seen) - FCNT_WINDOW
    if excess > 0:
        for stale in _oldest(seen, last, excess):
            if stale not in pending:
                forgotten = _newest(forgotten, _receive_time(stale, seen.pop(stale)))
    document = {"devAddr": dev_addr, "last": last, "seen": seen, "pending": pending}
    if forgotten is not None:
        document["forgotten"] = forgotten
    if replayed:
        document["replayed"] = dict(list(replayed.items())[-MAX_REPLAYED:])
    return document


def _oldest(seen: dict[str, str], last: int | None, count: int) -> list[str]:
    """The `count` oldest entries of a session's `seen`. By arrival while the frames come in
    order, or the device sends no counters (any more: its newest entry is a payload digest);
    else counters below the window first (lowest first), then digests (first arrivals first),
    then the lowest counters."""
    floor = (last if last is not None else 0) - FCNT_WINDOW
    first = list(islice(seen, count))
    if (
        last is None
        or _counter(next(reversed(seen))) < 0
        or all(0 <= _counter(key) <= floor for key in first)
    ):
        return first
    arrival = {key: index for index, key in enumerate(seen)}

    def age(key: str) -> tuple[int, int]:
        counter = _counter(key)
        if counter < 0:
            return 1, arrival[key]
        return (0 if counter <= floor else 2), counter

    return sorted(seen, key=age)[:count]


def _counter(key: str) -> int:
    """A `seen` key's frame counter; -1 for a payload digest (16 hex digits, where an FCnt has
    at most 10 digits): a device without counters has only those."""
    return int(key) if len(key) <= 10 and key.isdigit() else -1


def _digest_of(key: str, seen: Mapping[str, str], replayed: Mapping[str, str]) -> str:
    """A remembered frame's payload digest: a clear message's is its key."""
    if _counter(key) < 0:
        return key
    return seen.get(key) or replayed.get(key, "")


def _receive_time(key: str, value: str) -> str | None:
    """A `seen` entry's receive time: a clear message's, unless its session was stored before
    they were kept (its digest again); a frame counter's is not known."""
    return value if _counter(key) < 0 and value != key else None


def _newest(*times: str | None) -> str | None:
    """The newest of these RFC 3339 times (None: none)."""
    return max((t for t in times if t is not None), key=datetime.fromisoformat, default=None)


def _digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=8).hexdigest()


def decode_uplink(
    tenant: str, device: Document, uplink: Uplink, payload: bytes
) -> list[Observation]:
    """The observations in an uplink's decrypted payload: the model's codec, then `normalise`.

    Raises CodecError. Ingest's one decode step, which `bench.hotpath` measures as it is.
    """
    codec = get_codec(device["model"])
    measurements = codec.decode(payload, uplink.fport, device.get("params", {}))
    return normalise(tenant, device, uplink, measurements)


class Ingestor:
    def __init__(
        self,
        store: DocumentStore,
        keys: KeyStore,
        bus: EventBus,
        tenants: TenantService,
    ) -> None:
        self._store = store
        self._keys = keys
        self._bus = bus
        self._tenants = tenants
        self._device_cache = DeviceCache()
        self._buckets = BucketCache()
        self._lora = CipherCache(FrmPayloadCipher)
        #: Frames whose events this process published: they leave their session's outbox.
        self._published: Lru[tuple[str, str, str], str] = Lru(_PUBLISHED_ENTRIES)
        #: Frames whose publish failed here: still in the outbox for this host's retries.
        self._failed_here: Lru[tuple[str, str, str], str] = Lru(_PUBLISHED_ENTRIES)
        self._retention: dict[str, tuple[float, int]] = {}
        #: Changes of each tenant's retention this host saw: a read that a change overtook is
        #: used once, not cached.
        self._retention_changes: dict[str, int] = {}
        self._lock = threading.Lock()

    def registry(self, tenant: str) -> DeviceRegistry:
        return DeviceRegistry(
            TenantContainer(self._store.container("devices"), tenant),
            TenantKeys(self._keys, tenant),
            self._device_cache,
        )

    def quarantine(self, tenant: str) -> Quarantine:
        return Quarantine(TenantContainer(self._store.container("quarantine"), tenant))

    def series(self, tenant: str) -> TimeSeries:
        return TimeSeries(
            TenantContainer(self._store.container("series"), tenant),
            TenantContainer(self._store.container("latest"), tenant),
            self._buckets,
        )

    def tenant_exists(self, tenant: str) -> bool:
        try:
            self._retention_days(tenant)
        except (NotFound, ValueError):
            return False
        return True

    def _retention_days(self, tenant: str) -> int:
        now = time.monotonic()
        cached = self._retention.get(tenant)
        if cached and cached[0] > now:
            return cached[1]
        changes = self._retention_changes.get(tenant, 0)
        days = self._tenants.get(tenant).retention_days
        with self._lock:
            if self._retention_changes.get(tenant, 0) == changes:
                self._retention[tenant] = (now + _TENANT_TTL_S, days)
        return days

    def forget_retention(self, tenant: str) -> None:
        """The tenant's retention changed: hours this host writes from now on take the new one
        (other hosts read it again within `_TENANT_TTL_S`)."""
        with self._lock:
            self._retention.pop(tenant, None)
            self._retention_changes[tenant] = self._retention_changes.get(tenant, 0) + 1

    def seal_quiet_hours(self, now: datetime) -> int:
        """The hourly sweep: in every tenant, seal the open hours of devices that sent nothing
        for at least an hour after theirs ended (see `series`); returns how many were sealed.

        A tenant whose store fails is logged and the others are swept all the same; the first
        failure is raised at the end, so the run counts as failed.
        """
        before = bucket_of(now - QUIET_AFTER)
        sealed = 0
        token = None
        failure: StoreError | None = None
        for _ in range(MAX_TENANT_PAGES):
            tenants, token = self._tenants.list(100, token)
            for tenant in tenants:
                ttl = tenant.retention_days * 86400
                try:
                    sealed += self.series(tenant.id).seal_stale_hours(before, ttl)
                except StoreError as error:
                    log.warning("sealing the quiet hours failed: %s", error,
                                extra={"tenant": tenant.id})
                    failure = failure or error
            if token is None:
                break
        if failure is not None:
            raise failure
        return sealed

    def ingest_routed(self, routed: Iterable[tuple[str | None, Delivery]]) -> IngestResult:
        """A batch whose messages name their own tenants (IoT Hub's enrichment).

        Messages naming no tenant, or one that does not exist, go to the platform's quarantine.
        """
        by_tenant: dict[str, list[Delivery]] = {}
        total = IngestResult()
        platform = self.quarantine(PLATFORM_PARTITION)
        for tenant, delivery in routed:
            if tenant and tenant != PLATFORM_PARTITION and self.tenant_exists(tenant):
                by_tenant.setdefault(tenant, []).append(delivery)
                continue
            detail = f"no tenant {tenant!r}" if tenant else "the message names no tenant"
            qid = platform.put("unknown_tenant", detail, delivery.source, delivery.raw,
                               delivery.sender, delivery.received)
            total.rejections.append(
                Rejection("unknown_tenant", detail, qid, delivery.sender, detail)
            )
        for tenant, deliveries in by_tenant.items():
            part = self.ingest(tenant, deliveries)
            total.accepted += part.accepted
            total.duplicates += part.duplicates
            total.ignored += part.ignored
            total.readings += part.readings
            total.observations.extend(part.observations)
            total.rejections.extend(part.rejections)
        return total

    def ingest(self, tenant: str, deliveries: Sequence[Delivery]) -> IngestResult:
        reregistered = False
        for _ in range(_JUDGEMENTS):
            try:
                # A device deleted and registered again is judged again once: then its batch
                # starts its new session (a state that vanishes again went with its device).
                return self._ingest(tenant, deliveries, recheck=not reregistered)
            except _Reregistered:
                reregistered = True
            except _Rejudge:
                continue
        raise PreconditionFailed(
            f"tenant {tenant}: other batches kept changing its devices' sessions meanwhile"
        )

    def _ingest(
        self, tenant: str, deliveries: Sequence[Delivery], *, recheck: bool
    ) -> IngestResult:
        result = IngestResult()
        quarantine = self.quarantine(tenant)
        retention = self._retention_days(tenant)

        refused: list[tuple[Delivery, str, str, str | None]] = []

        def reject(
            delivery: Delivery, reason: str, detail: str, device: str | None,
            told: str | None = None,
        ) -> None:
            refused.append((delivery, reason, detail, device, detail if told is None else told))

        def quarantine_refused() -> None:
            """Written last: a batch judged again (`_Rejudge`) leaves no record behind."""
            for delivery, reason, detail, named, told in refused:
                parsed = delivery.parsed
                device = named or delivery.sender
                received = parsed.received if isinstance(parsed, Uplink) else delivery.received
                qid = quarantine.put(reason, detail, delivery.source, delivery.raw, device,
                                     received)
                result.rejections.append(Rejection(reason, detail, qid, device, told))
                log.warning(
                    "quarantined %s from %s: %s",
                    reason,
                    delivery.source,
                    told,
                    extra={"tenant": tenant, "device": device, "reason": reason},
                )

        uplinks: list[tuple[Delivery, Uplink]] = []
        arrived = datetime.now(UTC)
        for delivery in deliveries:
            parsed = delivery.parsed
            if isinstance(parsed, MalformedUplink):
                reject(delivery, parsed.reason, parsed.detail, None)
            elif isinstance(parsed, Ignored):
                result.ignored += 1
            else:  # arrived as its entry point (or, replayed, its quarantine record) says
                uplinks.append((delivery, _plausibly_timed(parsed, delivery.received or arrived)))
        if not uplinks:
            quarantine_refused()
            return result

        registry = self.registry(tenant)
        sending = {u.dev_eui for _, u in uplinks}
        devices = registry.lookup(sending)
        latest = TenantContainer(self._store.container("latest"), tenant)
        states = self._read_states(latest, devices)
        # Asked of the registry itself (one request), not of this process's cache: a device
        # without a state (new, unknown, or deleted through another host, whose cached
        # registration would revive it) and one whose state names a registration other than
        # the cached one (changed through another host: its model, params, place or keys).
        unsure = [
            dev_eui for dev_eui in sending
            if dev_eui not in states
            or states[dev_eui].get("deviceUpdated") != devices[dev_eui].get("updated")
        ]
        if unsure:
            registered = self._registered_now(registry, unsure)
            kept = devices.keys() - set(unsure)
            devices = {d: devices[d] for d in kept} | registered
        series = self.series(tenant)
        now = int(time.time())

        def session_of(dev_eui: str) -> _Session:
            def published(key: str, digest: str) -> bool:
                return self._published.get((tenant, dev_eui, key)) == digest

            def hour_size(bucket: str) -> int:
                return series.hour_size(dev_eui, bucket)

            return _Session.load(states.get(dev_eui), published, hour_size, now)

        sessions = {dev_eui: session_of(dev_eui) for dev_eui in devices}
        keys = TenantKeys(self._keys, tenant)
        accepted: dict[str, list[Observation]] = {}
        delivered: dict[str, list[Delivery]] = {}  # the deliveries of those observations
        republished: list[Observation] = []

        frames_of: dict[str, list[tuple[Delivery, Uplink]]] = {}
        for delivery, uplink in sorted(uplinks, key=lambda d: (d[1].dev_eui, d[1].fcnt or 0)):
            frames_of.setdefault(uplink.dev_eui, []).append((delivery, uplink))
        for dev_eui, frames in frames_of.items():
            device = devices.get(dev_eui)
            if device is None:
                for delivery, _ in frames:
                    detail = f"device {dev_eui} is not registered in {tenant}"
                    reject(delivery, "unknown_device", detail, dev_eui)
                continue
            outcome = self._accept_frames(keys, device, frames, sessions[dev_eui])
            for delivery, rejected in outcome.rejected:
                reject(delivery, rejected.reason, rejected.detail, dev_eui, rejected.told)
            result.duplicates += outcome.duplicates
            republished.extend(outcome.republished)
            if outcome.observations:
                result.accepted += len(outcome.accepted)
                accepted[dev_eui] = outcome.observations
                delivered[dev_eui] = outcome.accepted

        observations = [o for group in accepted.values() for o in group]
        ttl = retention * 86400
        open_hours: dict[str, OpenHourUpdate] = {}
        if any(series.writes_elsewhere(group, states.get(dev)) for dev, group in accepted.items()):
            self._check_not_taken(latest, {dev: sessions[dev] for dev in accepted})
        if observations:
            with self._store.batch():
                for dev_eui, device_observations in accepted.items():
                    open_hours[dev_eui], new = series.append(
                        dev_eui, device_observations, states.get(dev_eui), ttl
                    )
                    result.readings += new
        # Only devices with something accepted: duplicates and rejections change no state.
        merges = {
            dev_eui: _StateMerge(
                devices[dev_eui], session, accepted.get(dev_eui, []), open_hours.get(dev_eui), now
            )
            for dev_eui, session in sessions.items()
            if session.changed
        }
        with self._store.batch():
            written = write_merged(
                latest, self._buckets, [({"id": dev}, m) for dev, m in merges.items()]
            )
        gone: set[str] = set()  # devices deleted meanwhile: their readings are not announced
        vanished = [dev for dev, merge in merges.items() if merge.vanished]
        if vanished:  # their states were deleted with them, so not written
            for dev_eui in vanished:
                self._buckets.forget((latest.partition(), dev_eui))
            if self._registered_now(registry, vanished) and recheck:
                raise _Reregistered
            gone.update(vanished)
        created = [dev for dev, merge in merges.items() if merge.created]
        if created:  # a device looked up before its deletion: its new state would outlive it
            registered = self._registered_now(registry, created)
            deleted = [dev_eui for dev_eui in created if dev_eui not in registered]
            for dev_eui in deleted:
                self._withdraw_state(tenant, written[dev_eui], devices[dev_eui].get("updated", ""))
            gone.update(deleted)
        if gone:
            observations = [o for o in observations if o.device not in gone]
            for dev_eui in gone:  # kept, to be replayed should the device be registered again
                result.accepted -= len(delivered.get(dev_eui, ()))
                for delivery in delivered.get(dev_eui, ()):
                    detail = f"device {dev_eui} was deleted from {tenant} while this was stored"
                    reject(delivery, "unknown_device", detail, dev_eui)
        result.readings += sum(m.new for dev, m in merges.items() if dev not in gone)
        # Published once stored: the state commit put these frames in its outbox, so if
        # publishing fails, the trigger's retry finds them there and publishes them again.
        outgoing = sorted(republished, key=lambda o: o.epoch_ms) + observations
        if outgoing:
            sent = [
                ((tenant, dev_eui, key), digest)
                for dev_eui, session in sessions.items()
                for key, digest in session.digests()
            ]
            try:
                self._bus.publish(OBSERVATIONS, [event(o) for o in outgoing])
            except BaseException:
                for frame, digest in sent:  # for this host's retry, however long it takes
                    self._failed_here.put(frame, digest)
                raise
            for frame, digest in sent:
                self._published.put(frame, digest)
                self._failed_here.forget(frame)
        quarantine_refused()
        result.observations = observations
        return result

    @staticmethod
    def _check_not_taken(latest: TenantContainer, sessions: dict[str, _Session]) -> None:
        """Raise _SeenElsewhere if a frame these sessions accepted was taken meanwhile by a
        batch that has committed since they were loaded. Asked before readings are written to
        hours other than the open one, which the state commit (where `_StateMerge` asks again)
        could no longer take back; a batch committing between the two still can (the readings
        of another payload under its counter, in a past hour, then stay in the series)."""
        etags = latest.etags(list(sessions))
        changed = [dev for dev, s in sessions.items() if etags.get(dev) != s.loaded_from]
        for dev_eui, doc in read_current(latest, changed).items() if changed else ():
            if sessions[dev_eui].taken_by((doc or {}).get("session")):
                raise _SeenElsewhere

    def _registered_now(
        self, registry: DeviceRegistry, dev_euis: list[str]
    ) -> dict[str, Document]:
        """These devices as the registry holds them now, not as this process cached them; an
        absence is not cached (the device may be registered again through another host)."""
        for dev_eui in dev_euis:
            self._device_cache.forget(registry.tenant, dev_eui)
        registered = registry.lookup(dev_euis)
        for dev_eui in dev_euis:
            if dev_eui not in registered:
                self._device_cache.forget(registry.tenant, dev_eui)
        return registered

    def _read_states(
        self, latest: TenantContainer, devices: dict[str, Document]
    ) -> dict[str, Document]:
        """The devices' latest states as stored now, cached for the write that commits them.

        Checked every batch, though this process may have written them last: webhooks reach
        any instance, and a session judged on a copy another instance has moved past would
        take a replayed or duplicated frame for a new one. A single device's is read (one
        point read); a batch's ETags are read in one request, and only the states that
        changed since this process cached them are read in one more.
        """
        ids = list(devices)
        if len(ids) <= 1:
            stored = read_current(latest, ids) if ids else {}
        else:
            stored = dict.fromkeys(ids)  # None: the device has no state
            stale = []
            for dev_eui, etag in latest.etags(ids).items():
                cached = self._buckets.get((latest.partition(), dev_eui))
                if cached is not None and cached["_etag"] == etag:
                    stored[dev_eui] = cached
                else:
                    stale.append(dev_eui)
            if stale:
                stored.update(read_current(latest, stale))
        states: dict[str, Document] = {}
        for dev_eui, doc in stored.items():
            self._remember_state(latest, dev_eui, doc, states)
        return states

    def _remember_state(
        self,
        latest: TenantContainer,
        dev_eui: str,
        doc: Document | None,
        states: dict[str, Document],
    ) -> None:
        """A state as read from the store, cached as if written here (so committing it
        replaces it without a read); None: the device has none."""
        key = (latest.partition(), dev_eui)
        if doc is None:
            states.pop(dev_eui, None)
            self._buckets.forget(key)
        else:
            states[dev_eui] = doc
            self._buckets.put(key, doc)

    def _accept_frames(
        self,
        keys: TenantKeys,
        device: Document,
        frames: Sequence[tuple[Delivery, Uplink]],
        session: _Session,
    ) -> _Outcome:
        """One device's frames of a batch, in FCnt order, through its session."""
        outcome = _Outcome()
        for delivery, uplink in frames:
            try:
                observations = self._accept(
                    keys, device, uplink, session, window=delivery.judged_by_window
                )
            except _Rejected as exc:
                outcome.rejected.append((delivery, exc))
                continue
            except (KeyStoreError, StoreError, BusError):
                raise  # transient: the batch is retried
            except Exception as exc:  # a bug must not lose the message or fail the batch
                log.exception("ingest failed for %s", uplink.dev_eui)
                outcome.rejected.append((delivery, _Rejected("internal_error", type(exc).__name__)))
                continue
            if isinstance(observations, _Redelivered):
                outcome.duplicates += 1
                outcome.republished.extend(observations.to_publish)
            else:
                outcome.accepted.append(delivery)
                outcome.observations.extend(observations)
        return outcome

    def _accept(
        self,
        keys: TenantKeys,
        device: Document,
        uplink: Uplink,
        session: _Session,
        *,
        window: bool,
    ) -> list[Observation] | _Redelivered:
        """The uplink's observations, or for an exact redelivery those of them still to be
        published (if its frame is in the outbox); raises _Rejected."""
        body = uplink.payload
        if uplink.envelope is not None:
            # Its `seq` is the frame counter; the sealed bytes tell a redelivery (the same
            # again) from a replayed counter (other bytes), however the JSON was written.
            body = uplink.envelope.iv + uplink.envelope.ct
        elif not uplink.lorawan:
            # Clear readings carry nothing unique: the same values sent again later are a new
            # message, while a redelivered one keeps its receive time (IoT Hub's enqueued time).
            body += iso(uplink.received).encode()
        digest = _digest(body)
        key = digest if uplink.fcnt is None else str(uplink.fcnt)
        try:
            rejoined = self._check_session(
                uplink, session, digest, keyed=bool(device.get("hasAppSKey")), window=window
            )
        except _Duplicate:
            failed_here = self._failed_here.get((keys.tenant, uplink.dev_eui, key)) == digest
            committed = session.outbox.get(key)
            if not failed_here and (committed is None or committed[1] != uplink.source):
                return _Redelivered([])
            if committed is not None and len(committed) == 3:
                # As first received: an IP device's retry arrives later, and its reading keeps
                # the time (and event id) it was stored with.
                uplink = uplink._replace(received=datetime.fromisoformat(committed[2]))
            try:
                payload = self._plaintext(keys, device, uplink)
                again = decode_uplink(keys.tenant, device, uplink, payload)
                session.republished.append(key)
                return _Redelivered(again)
            except (_Rejected, CodecError) as exc:  # its device changed since: stored, not sent
                log.warning("cannot publish redelivered %s again: %s", uplink.dev_eui,
                            exc.reason)  # not the detail: it may tell what the payload holds
                return _Redelivered([])
        payload = self._plaintext(keys, device, uplink)
        # What the sender (with an ingest key only) is told of a keyed payload: nothing it
        # decrypted to (see `_Rejected.told`).
        keyed = uplink.envelope is not None or (uplink.lorawan and device.get("hasAppSKey"))
        try:
            observations = decode_uplink(keys.tenant, device, uplink, payload)
        except CodecError as exc:
            if keyed:
                raise _Rejected(
                    "decode_failed",
                    f"{exc.reason}: {exc} (the payload was decrypted with the device's key: is "
                    "the key right?)",
                    told="the payload decrypted with the device's key does not decode: is the "
                    "key right? (why is in the quarantine record, for the tenant's admins)",
                ) from exc
            raise _Rejected("decode_failed", f"{exc.reason}: {exc}") from exc
        try:
            session.count(observations)
        except _Rejected as exc:  # its detail names the hour: the payload's own time maybe
            if keyed:
                raise _Rejected(exc.reason, exc.detail, told="the device sent more readings "
                                "for one hour than its hour's document holds") from exc
            raise
        if rejoined:  # taken only from a frame that decoded: a forged one changes nothing
            session.dev_addr, session.last, session.seen = uplink.dev_addr, None, {}
            session.outbox, session.replayed = {}, {}
        if uplink.fcnt is None:  # its key is its digest; its receive time, once let go, tells
            session.seen[key] = iso(uplink.received)  # copies from before the window (`forgot`)
            if window:
                session.held_to_window.add(key)
        elif session.last is None or uplink.fcnt > session.last - FCNT_WINDOW:
            session.seen[key] = digest
        else:  # replayed from before the window: in `seen`, it would push the newest out
            session.replayed[key] = digest
        session.accepted[key] = (uplink.source, iso(uplink.received), digest)
        session.changed = True
        if uplink.fcnt is not None:
            last = session.last
            session.last = uplink.fcnt if last is None else max(last, uplink.fcnt)
        return observations

    @staticmethod
    def _check_session(
        uplink: Uplink, session: _Session, digest: str, *, keyed: bool, window: bool
    ) -> bool:
        """Whether the uplink starts a new session (another DevAddr: the device joined again),
        which the caller applies once the frame decoded; raises _Duplicate or _Rejected.

        A device whose AppSKey Smartby holds is an ABP device (an OTAA join would give it a
        session key Smartby does not have), and an ABP device keeps its DevAddr: another one
        is refused until the session is reset, so no message can start a session that lets
        captured frames in again.
        """
        if uplink.fcnt is None:
            # Not held to the window, a message replayed from the quarantine: set aside, never
            # taken, it is no copy of one the window let go.
            if digest in session.seen or (window and session.forgot(uplink.received)):
                raise _Duplicate
            return False
        fcnt = uplink.fcnt
        if uplink.dev_addr is not None and uplink.dev_addr != session.dev_addr:
            if keyed and session.dev_addr is not None:
                raise _Rejected(
                    "devaddr_changed",
                    f"DevAddr {uplink.dev_addr:08X} is not the session's "
                    f"{session.dev_addr:08X}: an ABP device keeps its address; if it was "
                    "given another, DELETE its session to start a new one",
                )
            return True
        seen = session.seen.get(str(fcnt)) or session.replayed.get(str(fcnt))
        if seen == digest:
            raise _Duplicate
        if seen is not None:
            raise _Rejected(
                "fcnt_replayed", f"FCnt {fcnt} was already received with another payload"
            )
        if window and session.last is not None and fcnt <= session.last - FCNT_WINDOW:
            raise _Rejected(
                "fcnt_regressed",
                f"FCnt {fcnt} is older than the last {FCNT_WINDOW} frames (last {session.last}); "
                "if the device was reset, DELETE its session to start a new one",
            )
        return False

    def _plaintext(self, keys: TenantKeys, device: Document, uplink: Uplink) -> bytes:
        dev_eui, tenant = uplink.dev_eui, keys.tenant
        # A device with a key is only heard through its key: a clear message for it, by any
        # route, is forged or misrouted (the route's ingest key is not the device's key).
        if device.get("hasAppSKey") and not uplink.lorawan:
            raise _Rejected(
                "decrypt_failed",
                "this device sends LoRaWAN uplinks encrypted with its AppSKey, through a "
                "network server",
            )
        if device.get("hasAesKey") and uplink.envelope is None:
            raise _Rejected("decrypt_failed", "this device must send an encrypted envelope")
        if uplink.lorawan:
            if not device.get("hasAppSKey"):
                return uplink.payload  # the network server decrypted it
            key = _device_key(keys, device, app_s_key_name(dev_eui))
            if key is None:
                raise _Rejected("no_key", "the device's AppSKey is missing from the key store")
            if uplink.dev_addr is None:
                raise _Rejected("decrypt_failed", "an encrypted uplink needs its DevAddr")
            return self._lora.get(tenant, dev_eui, key).decrypt(
                uplink.payload, uplink.dev_addr, uplink.fcnt or 0
            )
        if uplink.envelope is not None:
            key = _device_key(keys, device, aes_key_name(dev_eui))
            if key is None:
                raise _Rejected("no_key", "the device has no AES key for its envelope")
            try:
                return open_envelope(uplink.envelope, key, tenant, dev_eui)
            except EnvelopeError as exc:
                raise _Rejected("decrypt_failed", f"{exc.reason}: {exc}") from exc
        return uplink.payload

    def put_device(
        self, tenant: str, dev_eui: str, data: DeviceUpsert
    ) -> tuple[DevicePublic, bool]:
        """Register or update a device (`DeviceRegistry.put`). An update also reaches the
        device's latest state, which repeats its name, area and place for `/latest`."""
        device, created = self.registry(tenant).put(dev_eui, data)
        if not created:
            described = _described(
                device.model_dump(mode="json", by_alias=True)
                | {"id": device.dev_eui, "updated": device.updated.isoformat()}
            )
            try:
                self._rewrite_state(tenant, device.dev_eui, lambda doc: doc.update(described))
            except ChangedMeanwhile:
                # The registration is written. Its state, which ingest kept writing, is
                # described anew with the device's next frame: at once through this host,
                # through another once its device cache lets go of the old registration.
                log.warning("device %s: its state stayed busy, not described anew", dev_eui)
        return device, created

    def delete_device(self, tenant: str, dev_eui: str) -> None:
        """Remove a device: its latest state (`_remove_state`), then its registration and keys."""
        dev_eui = dev_eui.lower()
        registry = self.registry(tenant)
        # NotFound first; each step after it may be retried on failure.
        registered = registry.get(dev_eui).updated.isoformat()
        self._remove_state(tenant, dev_eui, registered)
        registry.delete(dev_eui)
        # Once more: a batch that looked the device up before it was deleted may have created
        # its state since. One that looks it up later finds it gone (see `_ingest`: `created`).
        self._remove_state(tenant, dev_eui, registered)

    def _remove_state(self, tenant: str, dev_eui: str, registered: str) -> None:
        """Delete a device's latest state, its open hour sealed first, so that the hour stays
        in the device's history until the retention ends. Only the state of the registration
        made at `registered` or before: not the state of the device registered again since."""
        latest = TenantContainer(self._store.container("latest"), tenant)
        ttl = self._retention_days(tenant) * 86400

        def seal_and_delete() -> None:
            state = latest.read(dev_eui)
            if state is None or _describes_newer(state, registered):
                return
            bucket, hour = open_hour_of(state)
            if bucket is not None and hour is not None:
                self.series(tenant).seal(dev_eui, bucket, hour, ttl)
            # Only the state whose hour was sealed: if another host stored readings meanwhile,
            # PreconditionFailed, and their hour is sealed too on the next attempt.
            latest.delete(dev_eui, etag=state["_etag"])

        _while_changing(dev_eui, seal_and_delete)
        self._buckets.forget((latest.partition(), dev_eui))

    def _withdraw_state(self, tenant: str, created: Document, registered: str) -> None:
        """Delete a state this batch created for a device deleted meanwhile. It holds only the
        batch's readings, which are quarantined (`unknown_device`), so its open hour is not
        sealed: else they would show again in the history of the device registered anew. If
        another batch has merged readings into it since, it goes as DELETE removes a state."""
        latest = TenantContainer(self._store.container("latest"), tenant)
        dev_eui = created["id"]
        try:
            latest.delete(dev_eui, etag=created["_etag"])
        except PreconditionFailed:
            self._remove_state(tenant, dev_eui, registered)
        else:
            self._buckets.forget((latest.partition(), dev_eui))

    def reset_session(self, tenant: str, dev_eui: str) -> None:
        """Forget a device's LoRaWAN session (after an ABP device's counters were reset)."""
        def reset(doc: Document) -> None:
            doc.update(session=None, sessionEpoch=doc.get("sessionEpoch", 0) + 1)

        if not self._rewrite_state(tenant, dev_eui, reset):
            raise NotFound(f"device {dev_eui} has no session")

    def _rewrite_state(
        self, tenant: str, dev_eui: str, change: Callable[[Document], object]
    ) -> bool:
        """Apply `change(doc)` to a device's latest state as stored (not as cached: another
        instance may have written it), ETag-guarded; False when it has none."""
        latest = TenantContainer(self._store.container("latest"), tenant)
        key = (latest.partition(), dev_eui)

        def rewrite() -> bool:
            self._buckets.forget(key)
            doc = latest.read(dev_eui)
            if doc is None:
                return False
            etag = doc.pop("_etag")
            change(doc)
            try:
                self._buckets.put(key, latest.replace(doc, etag=etag))
            except StoreNotFound:
                return False
            return True

        return _while_changing(dev_eui, rewrite)


def _while_changing(dev_eui: str, write: Callable[[], T]) -> T:
    """A read-change-write of a device's state, again while ingest keeps writing it meanwhile;
    ChangedMeanwhile (409, retry) if it never stops."""
    try:
        return until_unchanged(write, _REWRITE_ATTEMPTS)
    except PreconditionFailed:
        raise ChangedMeanwhile(f"device {dev_eui}: its state kept changing; retry") from None


def _plausibly_timed(uplink: Uplink, arrived: datetime) -> Uplink:
    """The uplink, stamped with the time it arrived here if the network's receive time cannot
    be right: ChirpStack takes it from the gateway, whose clock may never have been set (2000,
    or 2099). A reading from the future would stay the device's latest until that time came,
    and one before any device clock would hide device-timed readings. Past times are kept:
    replays bring old ones."""
    if uplink.received >= EARLIEST_DEVICE_TIME and uplink.received - arrived <= MAX_CLOCK_AHEAD:
        return uplink
    log.warning(
        "%s of %s was received at %s, says the network: stored as received now",
        uplink.source, uplink.dev_eui, iso(uplink.received),
    )
    return uplink._replace(received=arrived)


def _device_key(keys: TenantKeys, device: Document, name: str) -> bytes | None:
    """A device's key, as of its registration (a key rotated through another host is read
    anew); a key the key store refuses to give sets the message aside (no_key, replayable
    once the key is enabled again)."""
    try:
        return keys.get(name, device.get("updated", ""))
    except KeyRefused as exc:
        raise _Rejected("no_key", f"{exc}: is the key disabled?") from exc


def _described(device: Mapping[str, Any]) -> dict[str, Any]:
    """What a latest-state document repeats of its device's registration (what `/latest`
    shows, and filters by area), and which registration that is (`deviceUpdated`: a host
    whose cached registration is another reads it anew)."""
    return {
        "device": device["id"],
        "name": device.get("name"),
        "model": device.get("model"),
        "area": device.get("area"),
        "medium": device.get("medium"),
        "location": device.get("location"),
        "deviceUpdated": device.get("updated"),
    }


def _describes_newer(state: Document, registered: str | None) -> bool:
    """Whether a latest-state document names a registration made after `registered`: its
    device was changed, or deleted and registered again, since."""
    described = state.get("deviceUpdated")
    return bool(registered and described) and not _not_older(registered, described)


def _not_older(time: str, than: str) -> bool:
    """Whether RFC 3339 text `time` (as `iso` writes it) is not older than `than`. Text of one
    length compares as its instants do; `10:05:00Z` would sort after `10:05:00.500000Z`,
    since `iso` leaves out a zero fraction, so those are compared as times."""
    if len(time) == len(than):
        return time >= than
    return datetime.fromisoformat(time) >= datetime.fromisoformat(than)


class _StateMerge:
    """One device's batch as a merge into its latest-state document: the session, the newest
    value per quantity and the open hour's readings. `new` is how many of those readings the
    document did not have, as of the last (the written) merge."""

    def __init__(
        self,
        device: Document,
        session: _Session,
        observations: Iterable[Observation],
        open_hour: OpenHourUpdate | None,
        now: int,
    ) -> None:
        newest: dict[str, tuple[Observation, Reading]] = {}
        for o in observations:
            for reading in o.readings:
                current = newest.get(reading["quantity"])
                if current is None or o.epoch_ms >= current[0].epoch_ms:
                    newest[reading["quantity"]] = (o, reading)
        self._values = {
            quantity: {
                "value": r["value"], "unit": r["unit"], "time": o.iso_time, "medium": r["medium"]
            }
            for quantity, (o, r) in newest.items()
        }
        self._device = device
        self._loaded_from = session.loaded_from
        self._epoch = session.epoch
        self._ours = session.dump(now)
        self._taken_by = session.taken_by
        self._open_hour = open_hour
        self.new = 0
        self.vanished = False
        self.created = False

    def __call__(self, doc: Document) -> Document | None:
        ours, device = self._ours, self._device
        if self._loaded_from is not None and "_etag" not in doc:
            self.vanished = True  # deleted meanwhile, with its device: not brought back here
            return None
        self.created = "_etag" not in doc
        stored = doc.get("session")
        written_meanwhile = doc.get("_etag") != self._loaded_from
        if doc.get("sessionEpoch", 0) != self._epoch:
            merged = stored  # reset meanwhile: the reset wins over what this batch saw
        elif written_meanwhile and stored and stored.get("devAddr") == ours["devAddr"]:
            # Written by another consumer since we loaded it: keep what both have seen, unless
            # it accepted one of our frames too.
            if self._taken_by(stored):
                raise _SeenElsewhere
            seen = stored.get("seen", {}) | ours["seen"]
            lasts = [n for n in (stored.get("last"), ours["last"]) if n is not None]
            theirs = stored.get("pending")
            outbox = (theirs if isinstance(theirs, dict) else {}) | ours["pending"]
            replayed = stored.get("replayed", {}) | ours.get("replayed", {})
            forgotten = _newest(stored.get("forgotten"), ours.get("forgotten"))
            merged = _session_document(
                ours["devAddr"], max(lasts, default=None), seen, outbox, replayed, forgotten
            )
        else:
            merged = ours
        doc["session"] = merged
        stored_values = doc["values"] = dict(doc.get("values", {}))  # copy-on-write
        for quantity, value in self._values.items():
            previous = stored_values.get(quantity)
            if previous is None or _not_older(value["time"], previous["time"]):
                stored_values[quantity] = value
        newest = None
        for value in stored_values.values():
            if newest is None or _not_older(value["time"], newest):
                newest = value["time"]
        if not _describes_newer(doc, device.get("updated")):
            doc.update(_described(device))  # not over a newer registration written meanwhile
        if self._open_hour is not None:  # before `time` is this batch's: see `merge_into`
            self.new = self._open_hour.merge_into(doc)
        doc["time"] = newest
        return doc
