"""Azure Event Hubs producer with managed identity; one producer client per hub, reused."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence

import orjson
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError
from azure.identity import DefaultAzureCredential

from shared.bus import BusError, CloudEvent
from shared.settings import Settings

_SEND_TIMEOUT_S = 10


class EventHubBus:
    def __init__(self, namespace: str, credential: object, probe_hub: str) -> None:
        self._namespace = namespace
        self._probe_hub = probe_hub
        self._credential = credential
        self._producers: dict[str, EventHubProducerClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> EventHubBus:
        assert settings.eventhub_namespace
        credential = DefaultAzureCredential(
            managed_identity_client_id=settings.managed_identity_client_id
        )
        return cls(settings.eventhub_namespace, credential, settings.observations_hub)

    def _producer(self, topic: str) -> EventHubProducerClient:
        with self._lock:
            producer = self._producers.get(topic)
            if producer is None:
                producer = EventHubProducerClient(
                    fully_qualified_namespace=self._namespace,
                    eventhub_name=topic,
                    credential=self._credential,  # type: ignore[arg-type]
                    retry_total=3,
                )
                self._producers[topic] = producer
            return producer

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Send grouped by partition key (order per key is kept), in as few batches as fit."""
        by_key: dict[str, list[CloudEvent]] = defaultdict(list)
        for event in events:
            by_key[event["partitionkey"]].append(event)
        producer = self._producer(topic)
        try:
            for key, group in by_key.items():
                batch = producer.create_batch(partition_key=key)
                for event in group:
                    data = EventData(orjson.dumps(event))
                    data.content_type = "application/cloudevents+json; charset=utf-8"
                    try:
                        batch.add(data)
                    except ValueError:  # batch full: send it and start the next
                        producer.send_batch(batch, timeout=_SEND_TIMEOUT_S)
                        batch = producer.create_batch(partition_key=key)
                        batch.add(data)
                producer.send_batch(batch, timeout=_SEND_TIMEOUT_S)
        except EventHubError as exc:
            raise BusError(f"publish to {topic} failed: {type(exc).__name__}") from exc

    def ping(self) -> None:
        try:
            self._producer(self._probe_hub).get_eventhub_properties()
        except EventHubError as exc:
            raise BusError(type(exc).__name__) from exc

    def close(self) -> None:
        for producer in self._producers.values():
            producer.close()
