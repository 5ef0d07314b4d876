"""In-process bus for the local runtime: subscribers run synchronously on publish.

A failing subscriber is logged and counted, never silently ignored; the last events of each topic
are kept in a bounded log for the operator and tests.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

from shared.bus import CloudEvent

log = logging.getLogger(__name__)
Subscriber = Callable[[Sequence[CloudEvent]], None]


class InProcessBus:
    def __init__(self, keep: int = 1000) -> None:
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)
        self._recent: dict[str, deque[CloudEvent]] = defaultdict(lambda: deque(maxlen=keep))
        self._published: dict[str, int] = defaultdict(int)
        self.failures = 0
        self._lock = threading.Lock()

    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self._subscribers[topic].append(subscriber)

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        if not events:
            return
        with self._lock:
            self._recent[topic].extend(events)
            self._published[topic] += len(events)
        for subscriber in self._subscribers[topic]:
            try:
                subscriber(events)
            except Exception:
                self.failures += 1
                log.exception("subscriber failed", extra={"topic": topic, "events": len(events)})

    def recent(self, topic: str) -> list[CloudEvent]:
        with self._lock:
            return list(self._recent[topic])

    def published(self, topic: str) -> int:
        return self._published[topic]

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None
