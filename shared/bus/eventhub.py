"""Azure Event Hubs producer with managed identity; one producer client per hub, reused.

Every call is bounded by a deadline, not only the send: the SDK opens its AMQP link lazily
(in `create_batch`) and its management link per `get_eventhub_properties`, and it makes the
socket blocking for the TLS handshake, so a peer that accepts TCP but never finishes TLS would
hold the calling thread for hours (and `close()` waits on the same lock). So each call runs on
a thread of its own and the caller waits at most `_CALL_TIMEOUT_S` (plus `_PER_BATCH_S` for
each further batch of a publish): past that, it gets a BusError (the batch is retried; should
the call complete after all, its events go out twice under the same ids), and the stuck
producer is dropped for a new one (and closed once its calls are over). A hung thread lives
until its socket gives up; at most `_MAX_THREADS` may, so a namespace that hangs for hours costs
bounded threads and sockets, and a namespace that is back is used at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError
from azure.identity import DefaultAzureCredential

from shared.bus import ALERTS, OBSERVATIONS, BusError, CloudEvent
from shared.settings import Settings

_SEND_TIMEOUT_S = 10
_CALL_TIMEOUT_S = 20.0  # a probe, or a publish's first batch
#: And for each further batch of a publish: one per partition key (tenant/device), sent one
#: after another, so a full trigger batch of 256 devices may take a while when the hub is busy.
_PER_BATCH_S = 0.5
_CLOSE_TIMEOUT_S = 10.0  # for all producers together
_MAX_THREADS = 256  # calls running, hung ones included
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """A call started on its own thread, and the producer it uses."""

    future: Future[T]
    producer: EventHubProducerClient


class EventHubBus:
    def __init__(self, namespace: str, credential: object, hubs: Mapping[str, str]) -> None:
        """`hubs` names the event hub of each topic (settings can rename them)."""
        self._namespace = namespace
        self._hubs = dict(hubs)
        self._credential = credential
        self._producers: dict[str, EventHubProducerClient] = {}
        self._lock = threading.Lock()
        self._running = 0  # threads of calls, hung ones included
        #: Calls running on each producer, also on one dropped after a timeout.
        self._calls: dict[EventHubProducerClient, int] = {}
        self._probe: _Call[None] | None = None
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
        """The hub's producer, built on first use; called holding the lock."""
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

    def _start(self, hub: str, call: Callable[[EventHubProducerClient], T]) -> _Call[T]:
        """`call(producer)` on a thread of its own, or BusError if none may start."""
        if self._closed:
            raise BusError("the Event Hubs bus is closed")
        with self._lock:
            if self._running >= _MAX_THREADS:
                raise BusError(f"{self._running} Event Hubs calls hang; not starting another")
            try:
                producer = self._producer(hub)
            except Exception as exc:  # e.g. a credential or setting the SDK refuses
                raise BusError(f"{hub}: {type(exc).__name__}") from exc
            self._running += 1
            self._calls[producer] = self._calls.get(producer, 0) + 1
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(call(producer))
            except BaseException as exc:  # handed to the caller, if it still waits
                future.set_exception(exc)
            finally:
                self._finished(producer)

        try:
            threading.Thread(target=run, name=f"eventhubs-{hub}", daemon=True).start()
        except RuntimeError as exc:  # no thread to be had (a process or memory limit)
            self._finished(producer)
            raise BusError(f"{hub}: cannot start a thread for the call") from exc
        return _Call(future, producer)

    def _finished(self, producer: EventHubProducerClient) -> None:
        """A call on `producer` is over. A producer dropped after a timeout is closed once its
        last call is over, so that its AMQP connection does not linger on the namespace."""
        with self._lock:
            self._running -= 1
            left = self._calls[producer] - 1
            if left:
                self._calls[producer] = left
            else:
                del self._calls[producer]
            dropped = not left and producer not in self._producers.values()
        if dropped:
            with contextlib.suppress(Exception):
                producer.close()

    def _outcome(self, hub: str, started: _Call[T], batches: int = 1) -> T:
        """The call's result within its deadline (`batches` sends); EventHubError and
        timeouts become BusError."""
        deadline_s = _CALL_TIMEOUT_S + _PER_BATCH_S * (batches - 1)
        try:
            return started.future.result(timeout=deadline_s)
        except FutureTimeout:
            producer = started.producer
            with self._lock:  # a producer stuck in a handshake is not reused
                if self._producers.get(hub) is producer:
                    del self._producers[hub]
                idle = producer not in self._calls  # its call ended just after the deadline
            if idle:
                with contextlib.suppress(Exception):
                    producer.close()
            raise BusError(f"{hub} did not answer within {deadline_s:g} s") from None
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

        hub = self._hub(topic)
        self._outcome(hub, self._start(hub, send), batches=len(by_key))

    def ping(self) -> None:
        """Raise BusError unless the observations hub answers. A probe still under way (hung
        in a handshake) is waited on again, not joined by another thread."""
        hub = self._hub(OBSERVATIONS)
        with self._lock:
            probe = self._probe
            current = self._producers.get(hub)
            # Publishing built another producer since the probe hung: the namespace may be back.
            superseded = probe is not None and current not in (None, probe.producer)
        if probe is None or probe.future.done() or superseded:
            probe = self._start(hub, lambda producer: producer.get_eventhub_properties())
            with self._lock:
                self._probe = probe
        self._outcome(hub, probe)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            producers = {*self._producers.values(), *self._calls}  # dropped ones still busy too
            self._producers = {}
        closing = [threading.Thread(target=p.close, daemon=True) for p in producers]
        for thread in closing:  # a producer stuck in a handshake would not let go of its lock
            thread.start()
        deadline = time.monotonic() + _CLOSE_TIMEOUT_S
        for thread in closing:
            thread.join(max(0.0, deadline - time.monotonic()))
