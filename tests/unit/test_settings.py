"""Settings come from the environment by their documented names, and by nothing else."""

from __future__ import annotations

import pytest

from shared.settings import Settings, StoreKind


def test_environment_variables_named_like_the_python_fields_are_not_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stray ADMIN_KEY or COSMOS_KEY in a shell or a CI job is not Smartby's key."""
    for name in ("SMARTBY_STORE", "SMARTBY_ADMIN_KEY", "COSMOS__accountKey"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STORE", "cosmos")
    monkeypatch.setenv("ADMIN_KEY", "someone-elses-key")
    monkeypatch.setenv("COSMOS_KEY", "someone-elses-cosmos-key")
    settings = Settings()
    assert settings.store is StoreKind.EMBEDDED
    assert settings.admin_key is None and settings.cosmos_key is None


def test_the_documented_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTBY_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SMARTBY_OBSERVATIONS_HUB", "obs-prod")
    settings = Settings()
    assert (settings.log_level, settings.observations_hub) == ("DEBUG", "obs-prod")
    assert Settings(log_level="WARNING").log_level == "WARNING"  # code passes field names


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("SMARTBY_ADMIN_KEY", "admin_key"),
        ("SMARTBY_MASTER_KEY", "master_key"),
        ("COSMOS__accountKey", "cosmos_key"),
    ],
)
def test_an_unresolved_key_vault_reference_is_no_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, name: str, field: str
) -> None:
    """App Service leaves a reference it cannot resolve as text anyone can derive from the
    app's name; taken as the admin key it would make every caller an administrator."""
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-abc123.vault.azure.net/secrets/k/)"
    monkeypatch.setenv(name, reference)
    with caplog.at_level("ERROR", logger="shared.settings"):
        settings = Settings()
    assert getattr(settings, field) is None
    assert f"{name} is a Key Vault reference" in caplog.text
    monkeypatch.setenv(name, " resolved-secret\r\n")
    secret = getattr(Settings(), field)
    assert secret is not None and secret.get_secret_value() == "resolved-secret"


@pytest.mark.parametrize(
    "template",
    [
        "https://kv-smartby-prod.vault.azure.net/",  # one vault: every tenant's keys together
        "https://kv-{tenant}-{region}.vault.azure.net/",  # a field that is never filled
        "https://kv-shared.vault.azure.net/{tenant}",  # the tenant in the path, one vault
        "http://kv-{tenant}-abc123.vault.azure.net/",
        "https://kv-{tenant-abc123.vault.azure.net/",
    ],
)
def test_a_tenant_vault_template_must_name_one_vault_per_tenant(template: str) -> None:
    with pytest.raises(ValueError, match="once, in its host name"):
        Settings(keystore="keyvault", tenant_vault_uri_template=template)
    assert Settings(
        keystore="keyvault", tenant_vault_uri_template="https://kv-{tenant}-abc123.vault.azure.net/"
    ).tenant_vault_uri_template


def test_a_tenant_vault_template_names_the_vault_by_its_host_alone() -> None:
    for template in ("https://{tenant}@kv-shared.vault.azure.net/",
                     "https://kv-shared.vault.azure.net:{tenant}/"):
        with pytest.raises(ValueError, match="once, in its host name"):
            Settings(keystore="keyvault", tenant_vault_uri_template=template)
