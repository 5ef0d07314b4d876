"""Fixtures every tier shares: a platform on the embedded adapters, an API client, keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.api import create_app
from shared.bootstrap import Platform, build_platform
from shared.settings import Settings

ADMIN_KEY = "test-admin-key-0123456789abcdef"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, admin_key=ADMIN_KEY, **overrides)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    platform = build_platform(make_settings(tmp_path / "data"))
    yield platform
    platform.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Tenant:
    id: str
    keys: dict[str, str]  # scope -> key


@pytest.fixture
def make_tenant(client: TestClient):
    """Creates a tenant through the API with one key per scope."""

    def make(tenant_id: str, kommunenummer: str = "3907") -> Tenant:
        response = client.post(
            "/api/tenants",
            json={"id": tenant_id, "name": tenant_id.title(), "kommunenummer": kommunenummer},
            headers=auth(ADMIN_KEY),
        )
        assert response.status_code == 201, response.text
        keys = {}
        for scope in ("tenant-admin", "ingest", "app", "read"):
            issued = client.post(
                f"/api/tenants/{tenant_id}/keys",
                json={"name": f"{scope} key", "scopes": [scope]},
                headers=auth(ADMIN_KEY),
            )
            assert issued.status_code == 201, issued.text
            keys[scope] = issued.json()["key"]
        return Tenant(tenant_id, keys)

    return make
