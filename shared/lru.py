"""A bounded least-recently-used map that threads share, for caches on ingest's hot path.

Hits take no lock: OrderedDict's `get` and `move_to_end` are each atomic under the GIL, so the
worst a race can do is move an entry another thread has just evicted (ignored). Inserting and
evicting take the lock, so the bound holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

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
        with self._lock:
            entries = self._entries
            entries[key] = value
            entries.move_to_end(key)
            while len(entries) > self._max:
                entries.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
