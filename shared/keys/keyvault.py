"""Azure Key Vault key store, with managed identity.

Where `SMARTBY_TENANT_VAULT_URI_TEMPLATE` is set, each tenant has its own vault (seed 003: each
municipality holds its own keys; `infra/modules/tenant.bicep` creates it) and a secret is named
after the key alone. Otherwise the platform vault holds every tenant's keys under the prefix
`<tenant>--`. Secrets are stored as base64 text, tagged with the tenant.

The vaults have soft delete with purge protection (infra/), so a deleted secret stays
recoverable for the retention period and its name cannot be set again: writing a key under such
a name (a device registered again after its deletion) recovers the secret first, then writes the
new key as its newest version. Deleting waits until the secret is deleted, so that a write
right after it finds a recoverable secret rather than one still being deleted.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from shared.keys import KeyRefused, KeyStoreError, check_names
from shared.settings import Settings

_TIMEOUTS = {"connection_timeout": 5, "read_timeout": 10}
_RETRIES = 3
#: Seconds one call may take, retries included.
_CALL_TIMEOUT = 20
#: Seconds a throttled call waits per retry at most (azure-core would wait as long as Key
#: Vault's Retry-After asks, on ingest's hot path).
_RETRY_AFTER_CAP_S = 2.0
#: Seconds to wait for a soft delete or a recovery, which take seconds in Key Vault.
_LRO_TIMEOUT = 30


class CappedRetryPolicy(RetryPolicy):
    """azure-core's retries, with the server's Retry-After held to `_RETRY_AFTER_CAP_S`."""

    def get_retry_after(self, response: Any) -> float | None:
        retry_after = super().get_retry_after(response)
        return None if retry_after is None else min(retry_after, _RETRY_AFTER_CAP_S)


class KeyVaultKeyStore:
    def __init__(
        self,
        credential: object,
        vault_uri: str | None = None,
        tenant_vault_uri_template: str | None = None,
    ) -> None:
        if not (vault_uri or tenant_vault_uri_template):
            raise ValueError("need a vault URI or a per-tenant vault URI template")
        self._credential = credential
        self._vault_uri = vault_uri
        self._template = tenant_vault_uri_template
        self._clients: dict[str, SecretClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyVaultKeyStore:
        credential = DefaultAzureCredential(
            managed_identity_client_id=settings.managed_identity_client_id
        )
        return cls(credential, settings.keyvault_uri, settings.tenant_vault_uri_template)

    def _client(self, uri: str) -> SecretClient:
        with self._lock:
            client = self._clients.get(uri)
            if client is None:
                client = SecretClient(
                    uri,
                    self._credential,  # type: ignore[arg-type]
                    retry_policy=CappedRetryPolicy(retry_total=_RETRIES, timeout=_CALL_TIMEOUT),
                    **_TIMEOUTS,
                )
                self._clients[uri] = client
            return client

    def _locate(self, tenant: str, name: str) -> tuple[SecretClient, str]:
        check_names(tenant, name)
        if self._template:
            return self._client(self._template.format(tenant=tenant)), name
        assert self._vault_uri is not None
        return self._client(self._vault_uri), f"{tenant}--{name}"

    def put(self, tenant: str, name: str, secret: bytes) -> None:
        client, secret_name = self._locate(tenant, name)

        def write() -> None:
            client.set_secret(
                secret_name,
                base64.b64encode(secret).decode(),
                content_type="application/octet-stream;base64",
                tags={"tenant": tenant},
            )

        try:
            try:
                write()
            except ResourceExistsError:  # deleted, but recoverable: its name is taken until then
                client.begin_recover_deleted_secret(secret_name).wait(timeout=_LRO_TIMEOUT)
                write()
        except AzureError as exc:
            raise KeyStoreError(f"cannot write key {name}: {type(exc).__name__}") from exc

    def get(self, tenant: str, name: str, version: str = "") -> bytes | None:
        client, secret_name = self._locate(tenant, name)
        try:
            value = client.get_secret(secret_name).value
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            if isinstance(exc, HttpResponseError) and exc.status_code == 403:
                raise KeyRefused(f"Key Vault refuses key {name} (403)") from exc  # disabled
            raise KeyStoreError(f"cannot read key {name}: {type(exc).__name__}") from exc
        return base64.b64decode(value) if value else None

    def delete(self, tenant: str, name: str) -> None:
        client, secret_name = self._locate(tenant, name)
        try:
            client.begin_delete_secret(secret_name).wait(timeout=_LRO_TIMEOUT)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise KeyStoreError(f"cannot delete key {name}: {type(exc).__name__}") from exc

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        close = getattr(self._credential, "close", None)
        if close is not None:
            close()

    def ping(self) -> None:
        """Key Vault has no cheap health probe; a missing secret read proves reachability."""
        if self._vault_uri:
            try:
                self._client(self._vault_uri).get_secret("smartby-health-probe")
            except ResourceNotFoundError:
                return
            except AzureError as exc:
                raise KeyStoreError(type(exc).__name__) from exc
