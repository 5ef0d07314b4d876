"""Key store port: device keys (LoRaWAN AppSKeys, AES keys) live here and nowhere else.

Keys are written by the API, read by ingest, never returned, never logged, never stored in the
document store. Adapters: `local` (SQLite encrypted at rest with a master key) and `keyvault`
(Azure Key Vault secrets, one vault per tenant or a per-tenant name prefix). Domain code holds a
`TenantKeys`, bound to one tenant like `TenantContainer`.
"""

from __future__ import annotations

import re
from typing import Protocol

from shared.store.tenancy import is_tenant_id
from shared.ttl import TtlCache

KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


class KeyStoreError(Exception):
    """The key store cannot be reached or refused the operation (transient: retry)."""


class KeyRefused(Exception):
    """The key store holds the key but will not give it out (a disabled secret, no access to
    it): not transient, so ingest sets the device's messages aside rather than retrying its
    whole batch, which would hold up every other device until someone enables the key."""


class KeyStore(Protocol):
    def put(self, tenant: str, name: str, secret: bytes) -> None: ...

    def get(self, tenant: str, name: str, version: str = "") -> bytes | None:
        """The key, or None. `version` is what the caller knows of the key's version (its
        device's `updated`): a cache keeps keys per version, so that a key another host wrote
        since is read anew; a store itself ignores it."""

    def delete(self, tenant: str, name: str) -> None: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def check_names(tenant: str, name: str) -> None:
    if not is_tenant_id(tenant) or not KEY_NAME.fullmatch(name):
        raise ValueError("invalid tenant or key name")


class CachedKeyStore:
    """Keeps keys in memory for `ttl` seconds so the hot path does not call the vault per message.

    Writes through this instance invalidate its entry at once; a key changed by another instance
    is read anew as soon as a caller asks for another `version` of it (ingest passes its device's
    `updated`, which every registration changes), else within `ttl`. Misses are cached too, so a
    device whose key was removed (or never stored) does not call the vault on every message.
    """

    _ABSENT = b""  # a cached miss (no key is empty)

    def __init__(self, inner: KeyStore, ttl: float = 300.0, max_entries: int = 100_000) -> None:
        self._inner = inner
        #: (tenant, name) -> (the version it was read for, the key or _ABSENT)
        self._cache: TtlCache[tuple[str, str], tuple[str, bytes]] = TtlCache(ttl, max_entries)

    def put(self, tenant: str, name: str, secret: bytes) -> None:
        self._inner.put(tenant, name, secret)
        self._cache.forget((tenant, name))

    def get(self, tenant: str, name: str, version: str = "") -> bytes | None:
        hit = self._cache.get((tenant, name))
        if hit is not None and hit[0] == version:
            return hit[1] or None
        generation = self._cache.generation((tenant, name))
        value = self._inner.get(tenant, name)
        self._cache.put((tenant, name), (version, value or self._ABSENT), generation)
        return value

    def delete(self, tenant: str, name: str) -> None:
        self._inner.delete(tenant, name)
        self._cache.forget((tenant, name))

    def ping(self) -> None:
        self._inner.ping()

    def close(self) -> None:
        self._inner.close()


class TenantKeys:
    """One tenant's keys; there is no way to name another tenant's."""

    def __init__(self, store: KeyStore, tenant: str) -> None:
        if not is_tenant_id(tenant):
            raise ValueError(f"not a tenant id: {tenant!r}")
        self._store = store
        self.tenant = tenant

    def put(self, name: str, secret: bytes) -> None:
        self._store.put(self.tenant, name, secret)

    def get(self, name: str, version: str = "") -> bytes | None:
        return self._store.get(self.tenant, name, version)

    def delete(self, name: str) -> None:
        self._store.delete(self.tenant, name)
