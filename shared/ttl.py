"""A bounded map whose entries expire, that threads share: the caches in front of the key store
and the device registry.

Filling a cache races with invalidating it: a reader that read the source before a writer
changed it must not put the old value back after the writer's `forget`, where it would stay for
a whole `ttl`. So a reader takes `generation(key)` before it reads the source and passes it
to `put`, which drops the value when that key was forgotten in between. Generations are kept
per stripe of keys (a key's hash picks its stripe), so a cache stays useful while other entries
are being forgotten (a bulk registration), in bounded memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

_STRIPES = 1024
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._generations = [0] * _STRIPES
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value, or None when it is not cached (or has expired)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def generation(self, key: K) -> int:
        return self._generations[hash(key) % _STRIPES]

    def put(self, key: K, value: V, generation: int) -> None:
        """Cache `value`, read from the source after `generation(key)` returned `generation`."""
        with self._lock:
            if generation != self._generations[hash(key) % _STRIPES]:
                return  # the key was forgotten since the value was read: it may be stale
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, value)

    def forget(self, key: K) -> None:
        with self._lock:
            self._generations[hash(key) % _STRIPES] += 1
            self._entries.pop(key, None)
