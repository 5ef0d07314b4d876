"""A transient failure mid-batch, then the trigger's retry: nothing lost, nothing doubled."""

from __future__ import annotations

import orjson
import pytest

from shared.bus import BusError
from shared.telemetry.devices import DeviceUpsert
from shared.telemetry.ingest import deliver
from shared.telemetry.uplinks import parse_ttn
from shared.tenants.model import TenantCreate
from tests.support.uplinks import encrypt, ttn_uplink

EM300 = "24e124136b502217"
KEY = "2b7e151628aed2a6abf7158809cf4f3c"
PAYLOAD = bytes.fromhex("01755c03679cff04687b")


def _batch(count: int):
    messages = []
    for fcnt in range(1, count + 1):
        frm = encrypt(PAYLOAD, KEY, "260B1A2C", fcnt)
        message = ttn_uplink(EM300, "260B1A2C", fcnt, frm, f"2026-11-22T10:{fcnt:02d}:00Z")
        messages.append(deliver("ttn", orjson.dumps(message), parse_ttn))
    return messages


@pytest.fixture
def ingestor(platform):
    platform.tenants.create(TenantCreate(id="sandefjord", name="S", kommunenummer="3907"))
    platform.ingestor.registry("sandefjord").put(EM300, DeviceUpsert.model_validate(
        {"model": "milesight-em300-th", "name": "x", "appSKey": KEY}))
    return platform.ingestor


def test_a_batch_retried_after_the_bus_failed_stores_and_publishes_each_reading_once(
    ingestor, platform, monkeypatch
):
    batch = _batch(5)
    real_publish = platform.bus.publish

    def failing(topic, events):
        raise BusError("Event Hubs timed out")

    monkeypatch.setattr(platform.bus, "publish", failing)
    with pytest.raises(BusError):
        ingestor.ingest("sandefjord", batch)
    # Stored before publishing: the readings are there, and their frames in the outbox.
    assert len(_stored(ingestor)) == 15

    monkeypatch.setattr(platform.bus, "publish", real_publish)
    retried = ingestor.ingest("sandefjord", batch)
    assert (retried.accepted, retried.duplicates, retried.readings) == (0, 5, 0)
    events = platform.bus.recent("observations")
    assert len(events) == 5 == len({e["id"] for e in events})
    assert sum(len(e["data"]["readings"]) for e in events) == 15

    again = ingestor.ingest("sandefjord", batch)  # published now: a redelivery is only that
    assert (again.accepted, again.duplicates) == (0, 5)
    assert len(platform.bus.recent("observations")) == 5
    assert len(_stored(ingestor)) == 15


def test_an_event_is_published_once_its_readings_can_be_read(ingestor, platform):
    readable = []

    def consumer(events):
        readable.extend(len(_stored(ingestor)) for _ in events)

    platform.bus.subscribe("observations", consumer)
    ingestor.ingest("sandefjord", _batch(1))
    assert readable == [3]


def test_a_host_that_stops_between_storing_and_publishing_leaves_the_events_to_its_successor(
    ingestor, platform, monkeypatch
):
    """The state was committed, then the host died before publishing: another host (its own
    memory of what was published) gets the redelivered batch and publishes from the outbox."""
    from shared.keys import CachedKeyStore
    from shared.telemetry.ingest import Ingestor

    def crash(topic, events):
        raise SystemExit("the host was recycled")

    monkeypatch.setattr(platform.bus, "publish", crash)
    with pytest.raises(SystemExit):
        ingestor.ingest("sandefjord", _batch(3))
    monkeypatch.undo()
    successor = Ingestor(platform.store, CachedKeyStore(platform.keys._inner), platform.bus,
                         platform.tenants)
    redelivered = successor.ingest("sandefjord", _batch(3))
    assert (redelivered.accepted, redelivered.duplicates) == (0, 3)
    assert len({e["id"] for e in platform.bus.recent("observations")}) == 3
    newer = successor.ingest("sandefjord", _batch(4)[3:])  # the outbox moves on
    assert newer.accepted == 1
    pending = platform.store.container("latest").read("sandefjord", EM300)["session"]["pending"]
    assert list(pending) == ["4"]


def _stored(ingestor):
    readings, _ = ingestor.series("sandefjord").read(
        EM300, *_day(), quantity=None, limit=1000, continuation=None)
    return readings


def _day():
    from datetime import UTC, datetime

    return datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
