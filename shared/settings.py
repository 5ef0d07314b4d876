"""Every setting Smartby reads, in one typed object read once at start-up.

Names follow the Azure Functions conventions so the same names work as app settings in Azure
and as environment variables locally: identity-based connections are `<CONNECTION>__<property>`
(`COSMOS__accountEndpoint`, `EVENTHUB__fullyQualifiedNamespace`, ...), which the Functions host
also reads for its triggers. Adapters are chosen by `SMARTBY_STORE`, `SMARTBY_BUS` and
`SMARTBY_KEYSTORE` alone; the defaults are the embedded local runtime.
"""

from __future__ import annotations

import logging
import string
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class StoreKind(StrEnum):
    EMBEDDED = "embedded"
    COSMOS = "cosmos"


class BusKind(StrEnum):
    INPROCESS = "inprocess"
    EVENTHUB = "eventhub"


class KeyStoreKind(StrEnum):
    LOCAL = "local"
    KEYVAULT = "keyvault"


log = logging.getLogger(__name__)
_KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


def _setting_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field_name


class _SettingNamesOnly(EnvSettingsSource):
    """The environment, read by the settings' own names only. `populate_by_name` lets code
    (and tests) pass field names; pydantic-settings would also take it to read `STORE`,
    `ADMIN_KEY`, `COSMOS_KEY`... from the environment, where a stray one would quietly become
    Smartby's admin or Cosmos key."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.config = {**self.config, "validate_by_name": False}


class Settings(BaseSettings):
    """The platform's configuration. Field aliases are the exact setting names."""

    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, frozen=True, env_ignore_empty=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _SettingNamesOnly(settings_cls)

    store: StoreKind = Field(StoreKind.EMBEDDED, validation_alias=_env("SMARTBY_STORE"))
    bus: BusKind = Field(BusKind.INPROCESS, validation_alias=_env("SMARTBY_BUS"))
    keystore: KeyStoreKind = Field(KeyStoreKind.LOCAL, validation_alias=_env("SMARTBY_KEYSTORE"))

    data_dir: Path = Field(Path(".smartby"), validation_alias=_env("SMARTBY_DATA_DIR"))
    admin_key: SecretStr | None = Field(None, validation_alias=_env("SMARTBY_ADMIN_KEY"))
    master_key: SecretStr | None = Field(None, validation_alias=_env("SMARTBY_MASTER_KEY"))
    log_format: Literal["json", "text"] = Field("text", validation_alias=_env("SMARTBY_LOG_FORMAT"))
    log_level: str = Field("INFO", validation_alias=_env("SMARTBY_LOG_LEVEL"))
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, le=16 * 1024 * 1024, validation_alias=_env("SMARTBY_MAX_BODY_BYTES")
    )

    cosmos_endpoint: str | None = Field(None, validation_alias=_env("COSMOS__accountEndpoint"))
    cosmos_key: SecretStr | None = Field(None, validation_alias=_env("COSMOS__accountKey"))
    cosmos_database: str = Field("smartby", validation_alias=_env("SMARTBY_COSMOS_DATABASE"))
    cosmos_verify_tls: bool = Field(True, validation_alias=_env("COSMOS__verifyTls"))

    eventhub_namespace: str | None = Field(
        None, validation_alias=_env("EVENTHUB__fullyQualifiedNamespace")
    )
    observations_hub: str = Field("observations", validation_alias=_env("SMARTBY_OBSERVATIONS_HUB"))
    alerts_hub: str = Field("alerts", validation_alias=_env("SMARTBY_ALERTS_HUB"))

    keyvault_uri: str | None = Field(None, validation_alias=_env("KEYVAULT__vaultUri"))
    tenant_vault_uri_template: str | None = Field(
        None, validation_alias=_env("SMARTBY_TENANT_VAULT_URI_TEMPLATE")
    )

    managed_identity_client_id: str | None = Field(None, validation_alias=_env("AZURE_CLIENT_ID"))

    @field_validator("admin_key", "master_key", "cosmos_key", mode="before")
    @classmethod
    def _a_secret_or_nothing(cls, value: object, info: ValidationInfo) -> object:
        """A key pasted with a space, or read from a file with CRLF, is still the key.

        App Service puts a Key Vault reference it could not resolve (the secret not created
        yet, the vault unreachable, a role not yet in effect) into the setting as its own text,
        `@Microsoft.KeyVault(SecretUri=...)`, which anyone can work out from the app's name: as
        a key it would open the API to everyone. It means the setting has no value.
        """
        if not isinstance(value, str):
            return value
        value = value.strip()
        if value.startswith(_KEY_VAULT_REFERENCE):
            log.error(
                "%s is a Key Vault reference App Service could not resolve: it is left unset",
                _setting_name(info.field_name or ""),
            )
            return None
        return value or None

    @field_validator("tenant_vault_uri_template")
    @classmethod
    def _one_vault_per_tenant(cls, value: str | None) -> str | None:
        """Each tenant's vault is named by its id: a template without `{tenant}` would put
        every municipality's device keys in one vault, under the same names."""
        if value is None:
            return None
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError:
            fields = []
        parts = urlsplit(value)
        host = parts.netloc  # the vault's name only: no user, no port
        if fields != ["tenant"] or parts.scheme != "https" or "{tenant}" not in host or (
            "@" in host or ":" in host
        ):
            raise ValueError(
                f"{value!r} must be an https:// vault URI with {{tenant}} once, in its host name "
                "(e.g. https://kv-{tenant}-abc123.vault.azure.net/)"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _a_log_level(cls, value: str) -> str:
        """Checked here, so the Functions host fails at start as `smartby serve` does."""
        if value.upper() not in logging.getLevelNamesMapping():
            raise ValueError(f"{value!r} is not a log level (DEBUG, INFO, WARNING, ERROR)")
        return value.upper()

    @model_validator(mode="after")
    def _cloud_adapters_need_their_endpoints(self) -> Settings:
        missing = []
        if self.store is StoreKind.COSMOS and not self.cosmos_endpoint:
            missing.append("COSMOS__accountEndpoint")
        if self.bus is BusKind.EVENTHUB and not self.eventhub_namespace:
            missing.append("EVENTHUB__fullyQualifiedNamespace")
        if self.keystore is KeyStoreKind.KEYVAULT and not (
            self.keyvault_uri or self.tenant_vault_uri_template
        ):
            missing.append("KEYVAULT__vaultUri or SMARTBY_TENANT_VAULT_URI_TEMPLATE")
        if missing:
            raise ValueError("missing settings for the chosen adapters: " + ", ".join(missing))
        return self


#: Settings the Functions host itself reads for triggers (not through `Settings`); the function
#: app's registration test and the Bicep tests check these names against the templates.
HOST_SETTINGS = (
    "AzureWebJobsStorage__accountName",
    "IOTHUB__fullyQualifiedNamespace",
    "IOTHUB_EVENTHUB_NAME",
    "IOTHUB_CONSUMER_GROUP",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
)


#: Settings only the local runtime or a local emulator uses; Azure never sets these (no keys or
#: connection secrets in app settings: Azure connections are identity-based).
LOCAL_ONLY_SETTINGS = frozenset(
    {"SMARTBY_DATA_DIR", "SMARTBY_MASTER_KEY", "COSMOS__accountKey", "COSMOS__verifyTls"}
)


def setting_names() -> tuple[str, ...]:
    """Every app setting name the platform reads: `Settings` fields plus the host's."""
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        names.extend(str(choice) for choice in alias.choices)
    return (*names, *HOST_SETTINGS)
