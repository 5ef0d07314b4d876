"""The one place concrete adapters are chosen and wired, from settings alone.

Both runtimes call `build_platform`: the Functions host through `function_app.py`, the local
runtime through `smartby serve`. Domain code receives the `Platform` (or the parts it needs) and
cannot tell which adapters it got.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from shared import logs
from shared.bus import EventBus
from shared.keys import CachedKeyStore, KeyStore
from shared.private_files import create_private, read_private
from shared.settings import BusKind, KeyStoreKind, Settings, StoreKind
from shared.store import DocumentStore
from shared.telemetry.ingest import Ingestor
from shared.tenants.service import ApiKeyService, TenantService


@dataclass
class Platform:
    settings: Settings
    store: DocumentStore
    bus: EventBus
    keys: KeyStore
    tenants: TenantService
    api_keys: ApiKeyService
    ingestor: Ingestor

    def close(self) -> None:
        self.bus.close()
        self.store.close()
        self.keys.close()


def _store(settings: Settings) -> DocumentStore:
    if settings.store is StoreKind.COSMOS:
        from shared.store.cosmos import CosmosStore

        return CosmosStore.from_settings(settings)
    from shared.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.data_dir / "store.sqlite")


def _bus(settings: Settings) -> EventBus:
    if settings.bus is BusKind.EVENTHUB:
        from shared.bus.eventhub import EventHubBus

        return EventHubBus.from_settings(settings)
    from shared.bus.inprocess import InProcessBus

    return InProcessBus()


def _keys(settings: Settings) -> KeyStore:
    if settings.keystore is KeyStoreKind.KEYVAULT:
        from shared.keys.keyvault import KeyVaultKeyStore

        return CachedKeyStore(KeyVaultKeyStore.from_settings(settings))
    from shared.keys.local import LocalKeyStore, load_or_create_master_key

    master = settings.master_key.get_secret_value() if settings.master_key else None
    key = load_or_create_master_key(settings.data_dir, master)
    return CachedKeyStore(LocalKeyStore(settings.data_dir / "keys.sqlite", key))


def local_admin_key(data_dir: Path) -> str:
    """The local runtime's admin key: generated once, kept in the data dir (mode 0600)."""
    path = data_dir / "admin.key"
    key = read_private(path)
    if key:
        return key
    if key is not None:
        path.unlink()  # left empty (a disk full, before keys were written whole): made again
    return create_private(path, "sby-admin-" + secrets.token_urlsafe(32) + "\n")


def build_platform(settings: Settings) -> Platform:
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
    for secret in (admin_key, settings.master_key and settings.master_key.get_secret_value()):
        if secret:
            logs.register_secret(secret)
    store, bus, keys = _store(settings), _bus(settings), _keys(settings)
    tenants = TenantService(store)
    return Platform(
        settings=settings,
        store=store,
        bus=bus,
        keys=keys,
        tenants=tenants,
        api_keys=ApiKeyService(store, admin_key),
        ingestor=Ingestor(store, keys, bus, tenants),
    )
