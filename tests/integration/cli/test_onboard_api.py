"""`smartby onboard` against the real tenants API (embedded platform, in process)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shared.cli.onboard import ApiProblem, TenantSpec, ensure_tenant
from tests.conftest import ADMIN_KEY

SANDEFJORD = TenantSpec(id="sandefjord", name="Sandefjord kommune", kommunenummer="3907")


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return client


def test_onboarding_twice_creates_once_and_then_changes_nothing(admin: TestClient) -> None:
    assert ensure_tenant(admin, SANDEFJORD).status == "created"
    assert ensure_tenant(admin, SANDEFJORD).status == "unchanged"
    tenant = admin.get("/api/tenants/sandefjord").json()
    assert (tenant["name"], tenant["kommunenummer"], tenant["locale"], tenant["timezone"]) == (
        "Sandefjord kommune",
        "3907",
        "nb-NO",
        "Europe/Oslo",
    )


def test_onboarding_with_new_values_patches_only_those(admin: TestClient) -> None:
    ensure_tenant(admin, SANDEFJORD)
    renamed = TenantSpec(
        id="sandefjord", name="Sandefjord", kommunenummer="3907", timezone="Europe/Berlin"
    )
    outcome = ensure_tenant(admin, renamed)
    assert outcome.status == "updated"
    assert outcome.changed == {"name": "Sandefjord", "timezone": "Europe/Berlin"}
    assert admin.get("/api/tenants/sandefjord").json()["timezone"] == "Europe/Berlin"


def test_a_wrong_admin_key_is_a_clear_problem(client: TestClient) -> None:
    client.headers["Authorization"] = "Bearer not-the-admin-key"
    with pytest.raises(ApiProblem) as raised:
        ensure_tenant(client, SANDEFJORD)
    assert raised.value.status in (401, 403)
    assert raised.value.title
