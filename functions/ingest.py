"""IoT Hub device-to-cloud messages → ingest. Records and continues: a bad message is
quarantined, never retried; it raises only on transient store or bus failures, so the host
retries the batch (idempotent ingest makes the retry safe).

IoT Hub stamps each message with the device's twin tag `tenant` (message enrichment, see
infra/) as the application property `tenant`; the device id is the IoT Hub-authenticated
`iothub-connection-device-id`, which must be the device's EUI-64 as registered in Smartby.
A message's receive time is IoT Hub's `iothub-enqueuedtime`, not the Event Hub's enqueued
time: routing delivers at least once, and each copy it sends again is enqueued anew, while
ingest knows a clear message's copies by their receive time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import azure.functions as func

from functions import platform
from shared import logs
from shared.telemetry.ingest import Delivery, deliver_from_device
from shared.telemetry.uplinks import MalformedUplink, parse_time

bp = func.Blueprint()
log = logging.getLogger(__name__)


def routed_deliveries(events: Sequence[func.EventHubEvent]) -> list[tuple[str | None, Delivery]]:
    """Each event's tenant (from the enrichment) and delivery, in the batch's order.

    Metadata the host hands over is read defensively: a device id that is not text, or
    application properties missing for some events, make those events unrouted or malformed
    (quarantined), never an exception that fails, and retries for ever, the whole batch.
    """
    metadata = (events[0].metadata or {}) if events else {}
    properties = metadata.get("PropertiesArray")
    if not isinstance(properties, list):
        properties = []
    routed = []
    for index, event in enumerate(events):
        hub = event.iothub_metadata or {}
        device = hub.get("connection-device-id")
        sender = device if isinstance(device, str) else ""
        props = properties[index] if index < len(properties) else None
        tenant = props.get("tenant") if isinstance(props, dict) else None
        received = _received(event, hub.get("enqueuedtime"))
        routed.append((
            tenant if isinstance(tenant, str) else None,
            deliver_from_device("iothub", event.get_body(), sender, received),
        ))
    return routed


def _received(event: func.EventHubEvent, hub_time: object) -> datetime:
    """IoT Hub's enqueued time (RFC 3339 text, 7 fractional digits); failing that, with a
    warning (copies that routing delivers again are then told apart by it), the Event Hub's."""
    try:
        return parse_time(hub_time, "iothub-enqueuedtime")
    except MalformedUplink:
        log.warning("iothub-enqueuedtime %.40r is not a time; the Event Hub's is used", hub_time)
    received = event.enqueued_time or datetime.now(UTC)
    return received if received.tzinfo else received.replace(tzinfo=UTC)


@bp.function_name("ingest_iothub")
# Until the store, key store or bus is back (bad messages never fail a batch, they are
# quarantined): a retry that gave up would let the trigger checkpoint past the batch. On the
# function itself: the host-wide `retry` in host.json is deprecated for Event Hubs triggers.
@bp.retry(strategy="exponential_backoff", max_retry_count="-1",
          minimum_interval="00:00:02", maximum_interval="00:05:00")
@bp.event_hub_message_trigger(
    arg_name="events",
    event_hub_name="%IOTHUB_EVENTHUB_NAME%",
    connection="IOTHUB",
    consumer_group="%IOTHUB_CONSUMER_GROUP%",
    cardinality="many",
    data_type="binary",
)
def ingest_iothub(events: list[func.EventHubEvent]) -> None:
    with logs.correlation():
        result = platform().ingestor.ingest_routed(routed_deliveries(events))
        log.info(
            "iothub batch: %d events, %d accepted, %d duplicates, %d quarantined",
            len(events), result.accepted, result.duplicates, len(result.rejections),
        )
