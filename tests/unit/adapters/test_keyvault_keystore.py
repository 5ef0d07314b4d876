"""The Key Vault key store against a fake SecretClient shaped like the SDK's."""

from __future__ import annotations

import pytest
from azure.core.pipeline import PipelineResponse
from azure.core.rest import HttpRequest

from shared.keys import KeyRefused, KeyStoreError
from shared.keys import keyvault as keyvault_module
from tests.support.azure_fakes import FakeSecretClient


@pytest.fixture(autouse=True)
def vaults(monkeypatch):
    FakeSecretClient.vaults = {}
    FakeSecretClient.deleted = {}
    FakeSecretClient.disabled = set()
    monkeypatch.setattr(keyvault_module, "SecretClient", FakeSecretClient)
    return FakeSecretClient.vaults


def test_each_municipality_has_its_own_vault(vaults):
    store = keyvault_module.KeyVaultKeyStore(
        object(), tenant_vault_uri_template="https://kv-{tenant}-abc123.vault.azure.net/")
    store.put("sandefjord", "device-a-appskey", bytes(16))
    store.put("drammen", "device-a-appskey", bytes(range(16)))
    assert set(vaults) == {"https://kv-sandefjord-abc123.vault.azure.net/",
                           "https://kv-drammen-abc123.vault.azure.net/"}
    assert store.get("sandefjord", "device-a-appskey") == bytes(16)
    assert store.get("drammen", "device-a-appskey") == bytes(range(16))


def test_a_shared_vault_prefixes_names_with_the_tenant(vaults):
    store = keyvault_module.KeyVaultKeyStore(object(), vault_uri="https://kv-x.vault.azure.net/")
    store.put("sandefjord", "device-a-appskey", b"k" * 16)
    assert list(vaults["https://kv-x.vault.azure.net/"]) == ["sandefjord--device-a-appskey"]
    assert store.get("drammen", "device-a-appskey") is None


def test_missing_and_deleted_keys_read_as_none(vaults):
    store = keyvault_module.KeyVaultKeyStore(object(), vault_uri="https://kv-x.vault.azure.net/")
    assert store.get("sandefjord", "nothing") is None
    store.put("sandefjord", "gone", b"k" * 16)
    store.delete("sandefjord", "gone")
    store.delete("sandefjord", "gone")  # idempotent
    assert store.get("sandefjord", "gone") is None


def test_an_unreachable_vault_is_a_transient_key_store_error():
    store = keyvault_module.KeyVaultKeyStore(object(), vault_uri="https://unreachable.example/")
    with pytest.raises(KeyStoreError) as error:
        store.get("sandefjord", "device-a-appskey")
    assert "ServiceRequestError" in str(error.value)


def test_names_that_could_escape_the_tenant_are_refused():
    store = keyvault_module.KeyVaultKeyStore(object(), vault_uri="https://kv-x.vault.azure.net/")
    for tenant, name in (("sandefjord", "../x"), ("Sandefjord", "k"), ("a--b", "k")):
        with pytest.raises(ValueError):
            store.put(tenant, name, b"k")


def test_a_key_written_again_after_its_deletion_recovers_the_soft_deleted_secret(vaults):
    """Purge protection keeps a deleted secret recoverable, and its name taken, for 90 days: a
    device deleted and registered again must still get its new key."""
    store = keyvault_module.KeyVaultKeyStore(object(), vault_uri="https://kv-x.vault.azure.net/")
    store.put("sandefjord", "device-a-appskey", b"1" * 16)
    store.delete("sandefjord", "device-a-appskey")
    assert store.get("sandefjord", "device-a-appskey") is None
    store.put("sandefjord", "device-a-appskey", b"2" * 16)
    assert store.get("sandefjord", "device-a-appskey") == b"2" * 16


def test_a_disabled_secret_is_refused_not_a_transient_error(vaults):
    """Retrying a batch cannot enable a secret: a 403 must not hold up every other device."""
    store = keyvault_module.KeyVaultKeyStore(object(), vault_uri="https://kv-x.vault.azure.net/")
    store.put("sandefjord", "device-a-appskey", b"k" * 16)
    FakeSecretClient.disabled.add("sandefjord--device-a-appskey")
    with pytest.raises(KeyRefused, match="403"):
        store.get("sandefjord", "device-a-appskey")


class _Throttled:
    """An HTTP response as azure-core hands it to its retry policy: 429 with Retry-After."""

    status_code = 429

    def __init__(self, retry_after: str) -> None:
        self.headers = {"Retry-After": retry_after}


@pytest.mark.parametrize(("asked", "waited"), [("60", 2.0), ("1", 1.0)])
def test_key_vaults_retry_after_is_held_to_a_bound(asked, waited):
    policy = keyvault_module.CappedRetryPolicy(retry_total=3, timeout=20)
    response = PipelineResponse(HttpRequest("GET", "https://kv"), _Throttled(asked), None)
    assert policy.get_retry_after(response) == waited


def test_closing_the_store_closes_its_clients_and_credential(vaults):
    class Credential:
        closed = False

        def close(self) -> None:
            self.closed = True

    credential = Credential()
    store = keyvault_module.KeyVaultKeyStore(
        credential, tenant_vault_uri_template="https://kv-{tenant}-abc123.vault.azure.net/")
    store.put("sandefjord", "device-a-appskey", bytes(16))
    clients = list(store._clients.values())
    store.close()
    assert clients and all(client.closed for client in clients)
    assert credential.closed
