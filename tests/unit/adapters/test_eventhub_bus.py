"""The Event Hubs bus adapter against a fake producer shaped like the SDK's."""

from __future__ import annotations

import orjson
import pytest

from shared.bus import BusError, cloud_event
from shared.bus import eventhub as eventhub_module
from tests.support.azure_fakes import EventHubsNamespace


@pytest.fixture
def namespace(monkeypatch):
    fake = EventHubsNamespace(max_batch_bytes=1200)
    monkeypatch.setattr(eventhub_module, "EventHubProducerClient", fake.producer_class())
    return fake


def _events(device: str, count: int):
    return [
        cloud_event(id=f"{device}-{n}", source=f"/tenants/t/devices/{device}", type="x",
                    subject="temperature", data={"value": n}, partition_key=f"t/{device}")
        for n in range(count)
    ]


def test_events_are_sent_per_partition_key_in_order_and_split_when_full(namespace):
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), "observations")
    events = _events("a", 7) + _events("b", 2)
    bus.publish("observations", events)
    by_key: dict[str, list[str]] = {}
    for batch in namespace.sent:
        assert batch.hub == "observations"
        by_key.setdefault(batch.partition_key, []).extend(
            orjson.loads(body)["id"] for body in batch.bodies)
    assert by_key == {"t/a": [f"a-{n}" for n in range(7)], "t/b": ["b-0", "b-1"]}
    assert len([b for b in namespace.sent if b.partition_key == "t/a"]) > 1  # batch overflowed


def test_each_event_is_a_structured_cloudevent(namespace):
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), "observations")
    bus.publish("alerts", _events("a", 1))
    sent = orjson.loads(namespace.sent[0].bodies[0])
    assert sent["specversion"] == "1.0" and sent["id"] == "a-0"
    assert namespace.sent[0].hub == "alerts"


def test_a_failed_send_is_a_bus_error_so_the_trigger_retries(namespace):
    namespace.fail_sends = 1
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), "observations")
    with pytest.raises(BusError):
        bus.publish("observations", _events("a", 1))
