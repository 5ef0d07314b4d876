"""The Event Hubs bus adapter against a fake producer shaped like the SDK's."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from shared.bus import ALERTS, OBSERVATIONS, BusError, cloud_event
from shared.bus import eventhub as eventhub_module
from tests.support.azure_fakes import EventHubsNamespace

HUBS = {OBSERVATIONS: "observations", ALERTS: "alerts"}


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
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
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
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    bus.publish("alerts", _events("a", 1))
    sent = orjson.loads(namespace.sent[0].bodies[0])
    assert sent["specversion"] == "1.0" and sent["id"] == "a-0"
    assert namespace.sent[0].hub == "alerts"


def test_a_failed_send_is_a_bus_error_so_the_trigger_retries(namespace):
    namespace.fail_sends = 1
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    with pytest.raises(BusError):
        bus.publish("observations", _events("a", 1))


def test_each_topic_goes_to_the_hub_the_settings_name(namespace):
    bus = eventhub_module.EventHubBus(
        "ns.servicebus.windows.net", object(), {OBSERVATIONS: "obs-prod", ALERTS: "alerts"})
    bus.publish(OBSERVATIONS, _events("a", 1))
    assert [batch.hub for batch in namespace.sent] == ["obs-prod"]
    with pytest.raises(BusError, match="no event hub"):
        bus.publish("unheard-of", _events("a", 1))


def test_an_event_larger_than_a_batch_is_a_bus_error_not_a_crash(namespace):
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    huge = cloud_event(id="huge", source="/t", type="x", subject="s", data={"v": "x" * 5000},
                       partition_key="t/a")
    with pytest.raises(BusError, match="larger than an Event Hubs batch"):
        bus.publish(OBSERVATIONS, [huge])


class _Slow:
    """A producer whose first few instances hang until released; later ones answer."""

    def __init__(self, release: threading.Event, hanging: int) -> None:
        self.release, self.hanging = release, hanging
        self.built: list[_Slow.Producer] = []

    def producer_class(self):
        slow = self

        class Producer:
            def __init__(self, **kwargs):
                self.stuck = len(slow.built) < slow.hanging
                self.closed = False
                slow.built.append(self)

            def create_batch(self, partition_key=None):
                if self.stuck:
                    slow.release.wait(30)
                return _Batch()

            def get_eventhub_properties(self):
                self.create_batch()
                return {"partition_ids": ["0"]}

            def send_batch(self, batch, timeout=None):
                return None

            def close(self):
                self.closed = True

        return Producer


class _Batch:
    def __len__(self):
        return 0

    def add(self, data):
        return None


@pytest.fixture
def hung(monkeypatch):
    """A namespace that accepts TCP and never finishes the handshake: each producer call waits
    until the test releases it (as its socket would give up at last)."""
    namespace = _Slow(threading.Event(), hanging=10**9)
    monkeypatch.setattr(eventhub_module, "EventHubProducerClient", namespace.producer_class())
    yield namespace.release
    namespace.release.set()


def test_a_namespace_that_never_answers_fails_the_call_within_its_deadline(hung, monkeypatch):
    """The SDK opens its link in create_batch, with no timeout of its own: a peer that never
    finishes the handshake must not hold the caller (a request thread, the trigger)."""
    release = hung
    monkeypatch.setattr(eventhub_module, "_CALL_TIMEOUT_S", 0.2)
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    try:
        started = time.monotonic()
        with pytest.raises(BusError, match="did not answer"):
            bus.publish(OBSERVATIONS, _events("a", 1))
        with pytest.raises(BusError, match="did not answer"):
            bus.ping()
        assert time.monotonic() - started < 5
    finally:
        release.set()
        bus.close()


def test_stuck_calls_do_not_keep_the_bus_from_a_namespace_that_is_back(monkeypatch):
    """Producers stuck in a handshake are dropped; the next call, on a new producer, goes
    through. Hung calls are bounded: past the limit a call fails at once."""
    release = threading.Event()
    namespace = _Slow(release, hanging=2)  # the first two producers hang in their handshake
    monkeypatch.setattr(eventhub_module, "EventHubProducerClient", namespace.producer_class())
    monkeypatch.setattr(eventhub_module, "_CALL_TIMEOUT_S", 0.2)
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    try:
        for _ in range(2):
            with pytest.raises(BusError, match="did not answer"):
                bus.publish(OBSERVATIONS, _events("a", 1))
        bus.publish(OBSERVATIONS, _events("a", 1))  # the namespace is back: a new producer
        assert len(namespace.built) == 3
        monkeypatch.setattr(eventhub_module, "_MAX_THREADS", 2)  # the two hung ones
        with pytest.raises(BusError, match="hang"):
            bus.publish(OBSERVATIONS, _events("a", 1))
        release.set()  # their sockets give up at last
        deadline = time.monotonic() + 5
        while bus._running and time.monotonic() < deadline:
            time.sleep(0.01)
        bus.publish(OBSERVATIONS, _events("a", 1))
    finally:
        release.set()
        bus.close()
    with pytest.raises(BusError, match="closed"):
        bus.publish(OBSERVATIONS, _events("a", 1))


def test_a_publish_to_many_devices_has_time_for_each_batch(namespace, monkeypatch):
    """One batch per device, sent one after another: a full trigger batch on a slow hub must
    not run out of time (and then go out again on every retry)."""
    monkeypatch.setattr(eventhub_module, "_CALL_TIMEOUT_S", 0.2)
    monkeypatch.setattr(eventhub_module, "_PER_BATCH_S", 0.05)
    sends = namespace.producer_class().send_batch

    def slow(self, batch, timeout=None):
        time.sleep(0.02)
        sends(self, batch, timeout)

    monkeypatch.setattr(eventhub_module.EventHubProducerClient, "send_batch", slow)
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    try:
        bus.publish(OBSERVATIONS, [e for n in range(30) for e in _events(f"d{n}", 1)])
    finally:
        bus.close()
    assert len(namespace.sent) == 30  # 0.6 s of sends: past 0.2 s, within 0.2 + 29 x 0.05


def test_health_checks_wait_on_a_hung_probe_rather_than_start_more(hung, monkeypatch):
    """Polled every few seconds while the namespace hangs, the probe must not cost a thread
    per poll (they would use up the threads publishing needs)."""
    monkeypatch.setattr(eventhub_module, "_CALL_TIMEOUT_S", 0.05)
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    try:
        for _ in range(5):
            with pytest.raises(BusError, match="did not answer"):
                bus.ping()
        assert bus._running == 1
    finally:
        hung.set()
        bus.close()


def test_a_producer_the_sdk_refuses_to_build_is_a_bus_error(monkeypatch):
    class Refused:
        def __init__(self, **kwargs):
            raise ValueError("credential refused")

    monkeypatch.setattr(eventhub_module, "EventHubProducerClient", Refused)
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    for _ in range(3):
        with pytest.raises(BusError, match="ValueError"):
            bus.ping()
    assert bus._running == 0


@pytest.fixture
def back_after_one(monkeypatch):
    """A namespace whose first producer hangs in its handshake (until `release` is set); the
    producers built after it answer. Yields it and a bus on it, with a 0.2 s deadline."""
    namespace = _Slow(threading.Event(), hanging=1)
    monkeypatch.setattr(eventhub_module, "EventHubProducerClient", namespace.producer_class())
    monkeypatch.setattr(eventhub_module, "_CALL_TIMEOUT_S", 0.2)
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    yield namespace, bus
    namespace.release.set()
    bus.close()


def test_health_is_ok_again_once_publishing_finds_the_namespace_back(back_after_one):
    """The hung probe is not waited on for ever: a producer built since answers for it."""
    namespace, bus = back_after_one
    with pytest.raises(BusError, match="did not answer"):
        bus.ping()
    bus.publish(OBSERVATIONS, _events("a", 1))  # on a new producer: the namespace is back
    bus.ping()
    bus.ping()
    assert len(namespace.built) == 2


def test_a_producer_dropped_after_a_timeout_is_closed_once_its_call_is_over(back_after_one):
    namespace, bus = back_after_one
    with pytest.raises(BusError, match="did not answer"):
        bus.publish(OBSERVATIONS, _events("a", 1))
    stuck = namespace.built[0]
    assert not stuck.closed  # its call still hangs, holding the SDK's lock
    namespace.release.set()
    deadline = time.monotonic() + 5
    while not stuck.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stuck.closed and bus._running == 0
    bus.publish(OBSERVATIONS, _events("a", 1))
    assert not namespace.built[1].closed  # the current one stays open
    bus.close()
    assert namespace.built[1].closed


def test_closing_the_bus_closes_a_dropped_producer_whose_call_still_hangs(back_after_one):
    namespace, bus = back_after_one
    with pytest.raises(BusError, match="did not answer"):
        bus.publish(OBSERVATIONS, _events("a", 1))
    bus.close()
    assert namespace.built[0].closed


def test_a_thread_that_cannot_start_is_a_bus_error_and_gives_its_slot_back(
    namespace, monkeypatch
):
    real_start = threading.Thread.start

    def no_threads(thread):
        if thread.name.startswith("eventhubs-"):
            raise RuntimeError("can't start new thread")
        return real_start(thread)

    monkeypatch.setattr(eventhub_module, "_MAX_THREADS", 2)
    bus = eventhub_module.EventHubBus("ns.servicebus.windows.net", object(), HUBS)
    monkeypatch.setattr(threading.Thread, "start", no_threads)
    for _ in range(3):
        with pytest.raises(BusError, match="cannot start a thread"):
            bus.publish(OBSERVATIONS, _events("a", 1))
    monkeypatch.setattr(threading.Thread, "start", real_start)
    assert bus._running == 0
    bus.publish(OBSERVATIONS, _events("a", 1))
    bus.close()
