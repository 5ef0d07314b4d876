"""Event bus port: stages publish CloudEvents 1.0 (JSON) to named topics (Event Hubs).

Adapters: `inprocess` (local runtime: synchronous fan-out to subscribers, plus a bounded log a
person or test can read) and `eventhub` (Azure Event Hubs producer, managed identity). Delivery
between stages is at-least-once; event ids are deterministic so consumers dedupe redeliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

CloudEvent = dict[str, Any]

OBSERVATIONS = "observations"
ALERTS = "alerts"


class BusError(Exception):
    """Publishing failed (transient); the caller lets the trigger retry the batch."""


class EventBus(Protocol):
    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Publish in order; events with the same `partitionkey` keep their relative order."""

    def ping(self) -> None: ...

    def close(self) -> None: ...


def cloud_event(
    *,
    id: str,
    source: str,
    type: str,
    subject: str,
    data: dict[str, Any],
    partition_key: str,
    time: str | None = None,
) -> CloudEvent:
    """A CloudEvents 1.0 structured-mode JSON event; `partitionkey` is the spec's extension.

    `time` is RFC 3339 text (callers on hot paths format it once); default: now.
    """
    return {
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": type,
        "subject": subject,
        "time": time or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "partitionkey": partition_key,
        "data": data,
    }
