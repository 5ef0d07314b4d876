"""Fakes of the Azure SDK clients that have no local server, shaped like the real ones.

Event Hubs: `FakeProducerClient` hands out the SDK's own `EventDataBatch` (so size limits and
partition keys behave as in production) and records what was sent. Key Vault: `FakeSecretClient`
answers with the SDK's own `KeyVaultSecret` objects and raises its `ResourceNotFoundError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.eventhub import EventDataBatch
from azure.eventhub.exceptions import OperationTimeoutError
from azure.keyvault.secrets import KeyVaultSecret
from azure.keyvault.secrets._models import SecretProperties


@dataclass
class SentBatch:
    hub: str
    partition_key: str | None
    bodies: list[bytes]


@dataclass
class EventHubsNamespace:
    """What a namespace received, across every producer the code created."""

    sent: list[SentBatch] = field(default_factory=list)
    max_batch_bytes: int = 1024
    fail_sends: int = 0

    def producer_class(self) -> type:
        namespace = self

        class FakeProducerClient:
            def __init__(self, fully_qualified_namespace: str, eventhub_name: str,
                         credential: Any, **kwargs: Any) -> None:
                self.hub = eventhub_name

            def create_batch(self, partition_key: str | None = None) -> EventDataBatch:
                return EventDataBatch(max_size_in_bytes=namespace.max_batch_bytes,
                                      partition_key=partition_key)

            def send_batch(self, batch: EventDataBatch, timeout: float | None = None) -> None:
                assert timeout is not None, "every send must be bounded"
                if namespace.fail_sends:
                    namespace.fail_sends -= 1
                    raise OperationTimeoutError("send timed out")
                bodies = [b"".join(event.body) for event in batch._internal_events]
                key = batch._partition_key
                key = key.decode() if isinstance(key, bytes) else key
                namespace.sent.append(SentBatch(self.hub, key, bodies))

            def get_eventhub_properties(self) -> dict[str, Any]:
                return {"eventhub_name": self.hub, "partition_ids": ["0", "1"]}

            def close(self) -> None:
                return None

        return FakeProducerClient


class _Done:
    """A long-running operation that has finished (what `LROPoller.wait` needs)."""

    def wait(self, timeout: float | None = None) -> None:
        return None


class FakeSecretClient:
    """One vault's secrets, with Key Vault's soft delete (the vaults have purge protection): a
    deleted secret is recoverable, and its name cannot be set until it is recovered.
    `unreachable` makes every call fail as a network error does."""

    vaults: dict[str, dict[str, str]] = {}
    deleted: dict[str, dict[str, str]] = {}
    disabled: set[str] = set()  # secret names an operator disabled: Key Vault answers 403

    def __init__(self, vault_url: str, credential: Any, **kwargs: Any) -> None:
        assert kwargs.get("connection_timeout") and kwargs.get("read_timeout"), "unbounded"
        assert kwargs.get("retry_policy") is not None, "throttling waits must be bounded"
        self.vault_url = vault_url
        self.secrets = FakeSecretClient.vaults.setdefault(vault_url, {})
        self.recoverable = FakeSecretClient.deleted.setdefault(vault_url, {})
        self.closed = False

    def close(self) -> None:  # the SDK's: closes the client's transport (its connections)
        self.closed = True

    def set_secret(self, name: str, value: str, **kwargs: Any) -> KeyVaultSecret:
        if name in self.recoverable:
            raise ResourceExistsError(
                f"(Conflict) Secret {name} is currently in a deleted but recoverable state, and "
                "its name cannot be reused; in this state, the secret can only be recovered or "
                "purged."
            )
        self.secrets[name] = value
        return KeyVaultSecret(SecretProperties(vault_id=f"{self.vault_url}secrets/{name}"), value)

    def get_secret(self, name: str) -> KeyVaultSecret:
        if self.vault_url.startswith("https://unreachable"):
            raise ServiceRequestError("name resolution failed")
        if name not in self.secrets:
            raise ResourceNotFoundError(f"A secret with (name/id) {name} was not found")
        if name in FakeSecretClient.disabled:
            error = HttpResponseError(
                f"(Forbidden) Operation get is not allowed on a disabled secret. "
                f"Inner error: {{'code': 'SecretDisabled'}} ({name})"
            )
            error.status_code = 403
            raise error
        return KeyVaultSecret(SecretProperties(vault_id=f"{self.vault_url}secrets/{name}"),
                              self.secrets[name])

    def begin_delete_secret(self, name: str) -> _Done:
        if name not in self.secrets:
            raise ResourceNotFoundError(f"A secret with (name/id) {name} was not found")
        self.recoverable[name] = self.secrets.pop(name)
        return _Done()

    def begin_recover_deleted_secret(self, name: str) -> _Done:
        if name not in self.recoverable:
            raise ResourceNotFoundError(f"A deleted secret with (name/id) {name} was not found")
        self.secrets[name] = self.recoverable.pop(name)
        return _Done()
