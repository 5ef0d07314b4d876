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

    monkeypatch.setattr(platform.bus, "publish", real_publish)
    retried = ingestor.ingest("sandefjord", batch)
    assert retried.accepted == 5  # the session was not committed, so the retry redoes the work
    # The hour's readings are committed with the session, in the state write after publishing:
    # the failed attempt stored none of them, and the retry stores each once.
    assert retried.readings == 15

    events = platform.bus.recent("observations")
    assert len(events) == 5 == len({e["id"] for e in events})
    assert sum(len(e["data"]["readings"]) for e in events) == 15
    again = ingestor.ingest("sandefjord", batch)
    assert (again.accepted, again.duplicates) == (0, 5)
    readings, _ = ingestor.series("sandefjord").read(
        EM300, *_day(), quantity=None, limit=1000, continuation=None)
    assert len(readings) == 15


def _day():
    from datetime import UTC, datetime

    return datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
