"""The documents a user reads first stay true to the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.keys.keyvault import KeyVaultKeyStore
from shared.settings import Settings, setting_names

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in setting_names() if f"`{name}`" not in readme]
    assert missing == []


def test_example_local_settings_list_every_setting():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    missing = [name for name in setting_names() if name not in values]
    assert missing == []


def test_readme_shows_the_two_commands_and_ci_runs_only_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith("#") and not line.startswith("set ")
                and not line.startswith("cd ")]
    assert commands == ["make test"]


def test_example_local_settings_keep_device_keys_in_the_tenants_vaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Copied and filled in, the example must write device keys where the deployed app reads
    them (each tenant's own vault), never into the platform vault."""
    for name, value in json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ].items():
        monkeypatch.setenv(name, value)
    vault = KeyVaultKeyStore.from_settings(Settings())
    client, name = vault._locate("sandefjord", "device-0004a30b001c2b3d-appskey")
    assert client.vault_url.rstrip("/") == "https://kv-sandefjord-smartbydev.vault.azure.net"
    assert name == "device-0004a30b001c2b3d-appskey"
