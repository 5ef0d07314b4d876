"""IoT Hub → Event Hubs trigger batches, shaped as the Functions host hands them to Python.

There is no local IoT Hub, so this is the one fake of it: the host's trigger metadata for a
cardinality-many batch (`SystemPropertiesArray` with IoT Hub's `iothub-*` system properties and
Event Hubs' own fields, `PropertiesArray` with application properties incl. the `tenant`
enrichment), decoded by azure-functions' own `EventHubTriggerConverter`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventhub import EventHubTriggerConverter


@dataclass
class D2CMessage:
    device_id: Any  # a string from IoT Hub; anything else to test metadata it never sends
    body: bytes
    enqueued: str = "2026-11-22T10:00:00.1234567Z"  # by IoT Hub (`iothub-enqueuedtime`)
    properties: dict[str, Any] = field(default_factory=dict)
    #: By the Event Hub the message was routed to: later, and new for every copy that routing
    #: (at least once) delivers. Default: the same as `enqueued`.
    routed: str | None = None


def trigger_batch(
    messages: list[D2CMessage], *, properties_array: Any = None
) -> list[func.EventHubEvent]:
    """The batch as the host decodes it; `properties_array` replaces the messages' own
    application properties (`PropertiesArray`) to test metadata the host never sends."""
    system = []
    for number, message in enumerate(messages, start=1):
        system.append({
            "iothub-connection-device-id": message.device_id,
            "iothub-connection-auth-method":
                '{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
            "iothub-connection-auth-generation-id": "638672016000000000",
            "iothub-enqueuedtime": message.enqueued,
            "iothub-message-source": "Telemetry",
            "x-opt-sequence-number": number,
            "x-opt-offset": str(4096 * number),
            "x-opt-enqueued-time": message.routed or message.enqueued,
            "EnqueuedTimeUtc": message.routed or message.enqueued,
            "SequenceNumber": number,
            "Offset": str(4096 * number),
            "PartitionKey": None,
        })
    metadata = {
        "SystemPropertiesArray": meta.Datum(json.dumps(system), "json"),
        "PropertiesArray": meta.Datum(json.dumps(
            [m.properties for m in messages] if properties_array is None else properties_array
        ), "json"),
        "PartitionContext": meta.Datum(json.dumps({
            "ConsumerGroup": "ingest", "EventHubName": "iothub-ehub-smartby",
            "PartitionId": "0", "FullyQualifiedNamespace": "ihsuprodamres.servicebus.windows.net",
        }), "json"),
    }
    data = meta.Datum(SimpleNamespace(bytes=[m.body for m in messages]), "collection_bytes")
    return EventHubTriggerConverter.decode(data, trigger_metadata=metadata)
