"""The expiring caches in front of the key store and the device registry."""

from __future__ import annotations

from shared.keys import CachedKeyStore
from shared.ttl import TtlCache


def test_entries_expire_after_their_ttl(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("shared.ttl.time.monotonic", lambda: clock[0])
    cache: TtlCache[str, int] = TtlCache(ttl=10, max_entries=10)
    cache.put("a", 1, cache.generation("a"))
    clock[0] = 109.0
    assert cache.get("a") == 1
    clock[0] = 111.0
    assert cache.get("a") is None


def test_a_value_read_before_a_forget_is_not_put_back() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=60, max_entries=10)
    generation = cache.generation("a")  # a reader starts reading the source...
    cache.forget("a")  # ...a writer changes it and forgets the entry...
    cache.put("a", 1, generation)  # ...and the reader's old value must not stay
    assert cache.get("a") is None
    cache.put("a", 2, cache.generation("a"))
    assert cache.get("a") == 2


def test_forgetting_other_keys_does_not_stop_a_key_from_being_cached() -> None:
    """A bulk registration forgets entry after entry: the others must stay cacheable, or
    every lookup meanwhile goes to Key Vault (and its throttling)."""
    cache: TtlCache[int, int] = TtlCache(ttl=60, max_entries=10_000)
    generation = cache.generation(0)
    for other in range(1, 101):  # ints hash to themselves: none shares key 0's stripe
        cache.forget(other)
    cache.put(0, 1, generation)
    assert cache.get(0) == 1


def test_the_bound_holds() -> None:
    cache: TtlCache[int, int] = TtlCache(ttl=60, max_entries=3)
    for n in range(10):
        cache.put(n, n, cache.generation(n))
        assert len(cache) <= 3


class _RotatingVault:
    """A key store whose key is rotated (through the cache) while a read is under way."""

    def __init__(self) -> None:
        self.key = b"old-key-16-bytes"
        self.cached: CachedKeyStore | None = None

    def get(self, tenant: str, name: str, version: str = "") -> bytes | None:
        value = self.key
        if self.cached and value == b"old-key-16-bytes":
            self.cached.put(tenant, name, b"new-key-16-bytes")  # the rotation lands now
        return value

    def put(self, tenant: str, name: str, secret: bytes) -> None:
        self.key = secret

    def delete(self, tenant: str, name: str) -> None:
        self.key = None

    def ping(self) -> None:
        return None


def test_a_key_rotated_during_a_read_is_not_shadowed_by_the_old_one() -> None:
    vault = _RotatingVault()
    keys = vault.cached = CachedKeyStore(vault)
    assert keys.get("drammen", "device-a-appskey") == b"old-key-16-bytes"  # read before
    assert keys.get("drammen", "device-a-appskey") == b"new-key-16-bytes"


def test_a_missing_key_is_cached_as_missing() -> None:
    vault = _RotatingVault()
    vault.key = None
    keys = CachedKeyStore(vault)
    assert keys.get("drammen", "device-a-aeskey") is None
    vault.key = b"appeared-later!!"  # written by another instance: seen after the ttl
    assert keys.get("drammen", "device-a-aeskey") is None
