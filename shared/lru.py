"""A bounded least-recently-used map that threads share, for caches on ingest's hot path.

Hits take no lock: OrderedDict's `get` and `move_to_end` are each atomic under the GIL, so the
worst a race can do is move an entry another thread has just evicted (ignored). Inserting and
evicting take the lock, so the bound holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most `max_entries`; with `weigh`, also at most `max_weight` of what the values weigh
    together (e.g. the readings documents hold), so a few huge values cannot take the memory
    many small ones were budgeted for."""

    def __init__(
        self,
        max_entries: int,
        weigh: Callable[[V], int] | None = None,
        max_weight: int | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if (weigh is None) != (max_weight is None):  # a weight with no bound keeps one entry
            raise ValueError("weigh and max_weight go together")
        self._max = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._weigh = weigh
        self._max_weight = max_weight or 0
        self._weights: dict[K, int] = {}
        self._weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            try:  # noqa: SIM105 - contextlib.suppress costs more than the whole lookup
                self._entries.move_to_end(key)
            except KeyError:
                pass  # evicted by another thread just now; the value is still good to use
        return value

    def put(self, key: K, value: V) -> None:
        weight = self._weigh(value) if self._weigh is not None else 0
        with self._lock:
            entries = self._entries
            entries[key] = value
            entries.move_to_end(key)
            if self._weigh is not None:
                self._weight += weight - self._weights.get(key, 0)
                self._weights[key] = weight
            while len(entries) > self._max or (
                self._weight > self._max_weight and len(entries) > 1
            ):
                evicted, _ = entries.popitem(last=False)
                self._weight -= self._weights.pop(evicted, 0)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._weight -= self._weights.pop(key, 0)
