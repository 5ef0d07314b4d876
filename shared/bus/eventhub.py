"""Azure Event Hubs producer with managed identity; one producer client per hub, reused.

Every call is bounded by a deadline, not only the send: the SDK opens its AMQP link lazily
(in `create_batch`) and its management link per `get_eventhub_properties`, and it makes the
socket blocking for the TLS handshake, so a peer that accepts TCP but never finishes TLS would
hold the calling thread for hours. So each call runs on its own worker and the caller waits at
most `_CALL_TIMEOUT_S`: past that, it gets a BusError (the batch is retried, and the events, if
the call completes after all, go out twice under the same ids), and the stuck producer is
dropped and closed. At most `_MAX_CALLS` calls run at once; while that many are stuck, a call
fails at once rather than queueing behind them. A healthy probe is remembered for
`_PROBE_TTL_S`, so health checks do not open a link each.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import orjson
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError
from azure.identity import DefaultAzureCredential

from shared.bus import ALERTS, OBSERVATIONS, BusError, CloudEvent
from shared.settings import Settings

_SEND_TIMEOUT_S = 10
_CALL_TIMEOUT_S = 20.0  # a whole publish (several batches) or probe
_PROBE_TTL_S = 10.0
_MAX_CALLS = 16
T = TypeVar("T")


class EventHubBus:
    def __init__(self, namespace: str, credential: object, hubs: Mapping[str, str]) -> None:
        """`hubs` names the event hub of each topic (settings can rename them)."""
        self._namespace = namespace
        self._hubs = dict(hubs)
        self._credential = credential
        self._producers: dict[str, EventHubProducerClient] = {}
        self._lock = threading.Lock()
        # As many workers as calls may run: a call that got a slot never waits for a worker.
        self._calls = ThreadPoolExecutor(_MAX_CALLS, thread_name_prefix="eventhubs")
        self._slots = threading.BoundedSemaphore(_MAX_CALLS)
        self._healthy_until = 0.0
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> EventHubBus:
        assert settings.eventhub_namespace
        credential = DefaultAzureCredential(
            managed_identity_client_id=settings.managed_identity_client_id
        )
        hubs = {OBSERVATIONS: settings.observations_hub, ALERTS: settings.alerts_hub}
        return cls(settings.eventhub_namespace, credential, hubs)

    def _hub(self, topic: str) -> str:
        try:
            return self._hubs[topic]
        except KeyError:
            raise BusError(f"no event hub for topic {topic!r}") from None

    def _producer(self, hub: str) -> EventHubProducerClient:
        with self._lock:
            producer = self._producers.get(hub)
            if producer is None:
                producer = EventHubProducerClient(
                    fully_qualified_namespace=self._namespace,
                    eventhub_name=hub,
                    credential=self._credential,  # type: ignore[arg-type]
                    retry_total=3,
                )
                self._producers[hub] = producer
            return producer

    def _bounded(self, hub: str, call: Callable[[EventHubProducerClient], T]) -> T:
        """`call(producer)` within the deadline; EventHubError and timeouts become BusError."""
        if self._closed:
            raise BusError("the Event Hubs bus is closed")
        producer = self._producer(hub)
        if not self._slots.acquire(blocking=False):
            raise BusError(f"{_MAX_CALLS} Event Hubs calls are stuck; not starting another")

        def run() -> T:
            try:
                return call(producer)
            finally:
                self._slots.release()

        try:
            future = self._calls.submit(run)
        except RuntimeError:  # shut down meanwhile
            self._slots.release()
            raise BusError("the Event Hubs bus is closed") from None
        try:
            return future.result(timeout=_CALL_TIMEOUT_S)
        except FutureTimeout:
            with self._lock:  # a producer stuck in a handshake is not reused
                if self._producers.get(hub) is producer:
                    del self._producers[hub]
            threading.Thread(target=producer.close, name="eventhubs-close", daemon=True).start()
            raise BusError(f"{hub} did not answer within {_CALL_TIMEOUT_S:g} s") from None
        except EventHubError as exc:
            raise BusError(f"{hub} failed: {type(exc).__name__}") from exc

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Send grouped by partition key (order per key is kept), in as few batches as fit."""
        by_key: dict[str, list[CloudEvent]] = defaultdict(list)
        for event in events:
            by_key[event["partitionkey"]].append(event)

        def send(producer: EventHubProducerClient) -> None:
            for key, group in by_key.items():
                batch = producer.create_batch(partition_key=key)
                for event in group:
                    data = EventData(orjson.dumps(event))
                    data.content_type = "application/cloudevents+json; charset=utf-8"
                    while True:
                        try:
                            batch.add(data)
                            break
                        except ValueError:  # batch full: send it and start the next
                            if not len(batch):
                                raise BusError(
                                    f"event {event['id']} is larger than an Event Hubs batch"
                                ) from None
                            producer.send_batch(batch, timeout=_SEND_TIMEOUT_S)
                            batch = producer.create_batch(partition_key=key)
                producer.send_batch(batch, timeout=_SEND_TIMEOUT_S)

        self._bounded(self._hub(topic), send)

    def ping(self) -> None:
        if time.monotonic() < self._healthy_until:
            return
        self._bounded(self._hub(OBSERVATIONS), lambda p: p.get_eventhub_properties())
        self._healthy_until = time.monotonic() + _PROBE_TTL_S

    def close(self) -> None:
        self._closed = True
        self._calls.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            producers, self._producers = list(self._producers.values()), {}
        for producer in producers:
            producer.close()
