"""Key store port: device keys (LoRaWAN AppSKeys, AES keys) live here and nowhere else.

Keys are written by the API, read by ingest, never returned, never logged, never stored in the
document store. Adapters: `local` (SQLite encrypted at rest with a master key) and `keyvault`
(Azure Key Vault secrets, one vault per tenant or a per-tenant name prefix). Domain code holds a
`TenantKeys`, bound to one tenant like `TenantContainer`.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Protocol

from shared.store.tenancy import is_tenant_id

KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


class KeyStoreError(Exception):
    """The key store cannot be reached or refused the operation (transient: retry)."""


class KeyStore(Protocol):
    def put(self, tenant: str, name: str, secret: bytes) -> None: ...

    def get(self, tenant: str, name: str) -> bytes | None: ...

    def delete(self, tenant: str, name: str) -> None: ...

    def ping(self) -> None: ...


def check_names(tenant: str, name: str) -> None:
    if not is_tenant_id(tenant) or not KEY_NAME.fullmatch(name):
        raise ValueError("invalid tenant or key name")


class CachedKeyStore:
    """Keeps keys in memory for `ttl` seconds so the hot path does not call the vault per message.

    Writes through this instance invalidate its entry at once; a key changed by another instance
    is picked up within `ttl`. Misses are cached too (a device without a key is the common case
    for IP devices that send in clear).
    """

    def __init__(self, inner: KeyStore, ttl: float = 300.0, max_entries: int = 100_000) -> None:
        self._inner = inner
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[tuple[str, str], tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    def put(self, tenant: str, name: str, secret: bytes) -> None:
        self._inner.put(tenant, name, secret)
        with self._lock:
            self._cache.pop((tenant, name), None)

    def get(self, tenant: str, name: str) -> bytes | None:
        now = time.monotonic()
        hit = self._cache.get((tenant, name))
        if hit is not None and hit[0] > now:
            return hit[1]
        value = self._inner.get(tenant, name)
        with self._lock:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[(tenant, name)] = (now + self._ttl, value)
        return value

    def delete(self, tenant: str, name: str) -> None:
        self._inner.delete(tenant, name)
        with self._lock:
            self._cache.pop((tenant, name), None)

    def ping(self) -> None:
        self._inner.ping()


class TenantKeys:
    """One tenant's keys; there is no way to name another tenant's."""

    def __init__(self, store: KeyStore, tenant: str) -> None:
        if not is_tenant_id(tenant):
            raise ValueError(f"not a tenant id: {tenant!r}")
        self._store = store
        self.tenant = tenant

    def put(self, name: str, secret: bytes) -> None:
        self._store.put(self.tenant, name, secret)

    def get(self, name: str) -> bytes | None:
        return self._store.get(self.tenant, name)

    def delete(self, name: str) -> None:
        self._store.delete(self.tenant, name)
