"""Clear JSON messages of IP devices carry no counter: a copy is known by its payload and its
receive time (IoT Hub's enqueued time, which every copy keeps), however late it comes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.bus import BusError
from shared.keys import CachedKeyStore
from shared.store.tenancy import TenantContainer
from shared.telemetry import ingest
from shared.telemetry.devices import DeviceUpsert
from shared.telemetry.ingest import FCNT_WINDOW, Delivery, Ingestor, deliver_from_device
from shared.telemetry.replay import replay
from shared.tenants.model import TenantCreate

TENANT = "sandefjord"
SENSOR = "0004a30b001c2b3d"
FIRST = datetime(2026, 11, 22, 10, tzinfo=UTC)
#: More messages than the session's window remembers: the first ones are let go.
MORE_THAN_THE_WINDOW = FCNT_WINDOW + 6


def message(second: float, source: str = "iothub") -> Delivery:
    """The device's reading of `second` seconds after 10:00, received then."""
    body = orjson.dumps({"temperature": round(4.0 + second / 100, 2)})
    return deliver_from_device(source, body, SENSOR, FIRST + timedelta(seconds=second))


def register(host: Ingestor) -> None:
    host.put_device(TENANT, SENSOR, DeviceUpsert.model_validate(
        {"model": "json", "name": "Brygga"}))


def in_batches(host: Ingestor, messages: list[Delivery]) -> tuple[int, int, list[str]]:
    """Ingested ten at a time, as a partition's batches: accepted, duplicates, rejections."""
    accepted = duplicates = 0
    rejections: list[str] = []
    for start in range(0, len(messages), 10):
        result = host.ingest(TENANT, messages[start:start + 10])
        accepted += result.accepted
        duplicates += result.duplicates
        rejections += [r.reason for r in result.rejections]
    return accepted, duplicates, rejections


@pytest.fixture
def host(platform) -> Ingestor:
    platform.tenants.create(TenantCreate(id=TENANT, name="Sandefjord", kommunenummer="3907"))
    return platform.ingestor


@pytest.fixture
def sensor(host) -> Ingestor:
    register(host)
    return host


def test_a_partition_replayed_from_its_checkpoint_is_not_published_again(sensor, platform):
    """A Functions host crashed: its successor reads the partition from the last checkpoint,
    and a device sending every second has more newer messages by then than the window holds."""
    sent = [message(second) for second in range(MORE_THAN_THE_WINDOW)]
    assert in_batches(sensor, sent) == (len(sent), 0, [])
    published = platform.bus.published("observations")

    assert in_batches(sensor, sent) == (0, len(sent), [])
    assert platform.bus.published("observations") == published


def test_a_partition_replayed_from_its_checkpoint_counts_nothing_again(sensor, monkeypatch):
    """Its copies' readings are stored already: counted again against the hour's limit, they
    would be refused as too_large (and kept in the quarantine), though they add nothing to it."""
    sent = [message(second) for second in range(MORE_THAN_THE_WINDOW)]
    monkeypatch.setattr(ingest, "MAX_HOUR_READINGS", len(sent))  # one reading each
    assert in_batches(sensor, sent) == (len(sent), 0, [])

    assert in_batches(sensor, sent) == (0, len(sent), [])


def test_messages_committed_out_of_their_receive_order_are_all_taken(sensor):
    """Two hosts take a device's HTTP posts a millisecond apart, and the later one commits
    first: the earlier is new all the same, however many messages the window let go."""
    assert in_batches(sensor, [message(s) for s in range(MORE_THAN_THE_WINDOW)])[0]
    earlier, later = message(100, "http"), message(100.001, "http")
    assert sensor.ingest(TENANT, [later]).accepted == 1
    assert sensor.ingest(TENANT, [earlier]).accepted == 1


def test_a_message_replayed_from_the_quarantine_after_the_window_moved_on_is_taken(host):
    """Set aside before the device was registered, it was never taken: not a copy."""
    assert [r.reason for r in host.ingest(TENANT, [message(0)]).rejections] == [
        "unknown_device"
    ]
    register(host)
    assert in_batches(host, [message(s) for s in range(1, MORE_THAN_THE_WINDOW + 1)])[0]
    records, _ = host.quarantine(TENANT).list(None, 10, None)
    (replayed,) = replay(host, TENANT, records, host.quarantine(TENANT))
    assert replayed.outcome == "accepted"


def test_a_session_stored_before_receive_times_were_kept_still_tells_copies(sensor, platform):
    """Its window held digests only and nothing of what it had let go: its copies are known
    while they are in it, and once newer messages have pushed them out, by their times."""
    sent = [message(second) for second in range(MORE_THAN_THE_WINDOW + 10)]
    in_batches(sensor, sent[:10])
    latest = TenantContainer(platform.store.container("latest"), TENANT)
    state = latest.read(SENSOR)
    session = state["session"]
    session["seen"] = {digest: digest for digest in session["seen"]}
    session.pop("forgotten", None)
    latest.replace(state, etag=state.pop("_etag"))

    assert in_batches(sensor, sent[:10]) == (0, 10, [])
    assert in_batches(sensor, sent[10:]) == (MORE_THAN_THE_WINDOW, 0, [])
    assert in_batches(sensor, sent) == (0, len(sent), [])


def test_a_message_whose_publish_failed_is_published_by_its_redelivery(
    sensor, platform, monkeypatch
):
    """From the outbox, as a LoRaWAN frame is; and once it is published, it leaves the outbox
    (a clear message's window entry holds its receive time: the outbox knows it by digest)."""
    first = [message(0), message(1)]
    real_publish = platform.bus.publish

    def failing(topic, events):
        raise BusError("Event Hubs timed out")

    monkeypatch.setattr(platform.bus, "publish", failing)
    with pytest.raises(BusError):
        sensor.ingest(TENANT, first)
    monkeypatch.setattr(platform.bus, "publish", real_publish)
    assert (sensor.ingest(TENANT, first).duplicates, platform.bus.published("observations")) == (
        2, 2
    )
    for second in (2, 3):  # published here: each leaves the outbox with the next commit
        sensor.ingest(TENANT, [message(second)])
    pending = platform.store.container("latest").read(TENANT, SENSOR)["session"]["pending"]
    assert len(pending) == 1


def test_a_copy_a_host_takes_while_another_lets_its_original_go_is_a_duplicate(
    sensor, platform, monkeypatch
):
    """Host B loads the state; host A takes the original and so many newer messages that its
    window lets it go; B's copy, judged on the state it loaded, is judged again on A's."""
    host_b = Ingestor(platform.store, CachedKeyStore(platform.keys._inner), platform.bus,
                      platform.tenants)
    assert sensor.ingest(TENANT, [message(0)]).accepted == 1
    loaded = ingest.read_current

    def then_host_a_goes_on(latest, ids):
        found = loaded(latest, ids)
        monkeypatch.setattr(ingest, "read_current", loaded)
        in_batches(sensor, [message(s) for s in range(1, MORE_THAN_THE_WINDOW + 1)])
        return found

    published = platform.bus.published("observations") + MORE_THAN_THE_WINDOW
    monkeypatch.setattr(ingest, "read_current", then_host_a_goes_on)
    assert host_b.ingest(TENANT, [message(1)]).duplicates == 1
    assert platform.bus.published("observations") == published
