"""Authentication and tenant isolation, for every route the app has.

The routes are read from the app itself, so a route family added later is covered without
anyone remembering to add it here.
"""

from __future__ import annotations

import re

import pytest

from shared.api import create_app
from tests.conftest import ADMIN_KEY, auth

#: Example values for path parameters, valid by every route's pattern.
PATH_VALUES = {"tenant": "drammen", "key_id": "0123456789ab", "dev_eui": "a84041000181c8d1"}
PUBLIC = {"/api/health"}


def _routes(platform) -> list[tuple[str, str]]:
    """Every (method, path) of the API as its OpenAPI document publishes it."""
    paths = create_app(platform).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in PUBLIC
        for method in operations
    ]


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def _call(client, method: str, path: str, key: str | None):
    headers = auth(key) if key else {}
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.request(method, _fill(path), json=body, headers=headers)


def test_every_protected_route_needs_a_key(client, platform):
    routes = _routes(platform)
    assert len(routes) >= 7
    for method, path in routes:
        response = _call(client, method, path, None)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_forged_key_is_rejected_everywhere(client, platform, make_tenant):
    make_tenant("drammen", "3301")
    forged = "sby.drammen.0123456789ab.not-the-secret"
    for method, path in _routes(platform):
        assert _call(client, method, path, forged).status_code == 401, (method, path)


@pytest.mark.parametrize("scope", ["tenant-admin", "ingest", "app", "read"])
def test_tenant_a_key_never_reaches_tenant_b(client, platform, make_tenant, scope):
    sandefjord = make_tenant("sandefjord")
    make_tenant("drammen", "3301")
    tenant_routes = [(m, p) for m, p in _routes(platform) if "{tenant}" in p]
    assert tenant_routes
    for method, path in tenant_routes:
        response = _call(client, method, path, sandefjord.keys[scope])
        assert response.status_code in (403, 404), (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "drammen" not in response.text or response.status_code == 403


def test_an_ingest_key_opens_the_ingest_routes_only(client, platform, make_tenant):
    """It is pasted into network servers' consoles and onto devices: nothing else is theirs."""
    tenant = make_tenant("drammen", "3301")
    others = [(m, p) for m, p in _routes(platform) if "/ingest/" not in p]
    assert others
    for method, path in others:
        response = _call(client, method, path, tenant.keys["ingest"])
        assert response.status_code == 403, (method, path, response.text)


def test_admin_only_routes_refuse_tenant_keys(client, make_tenant):
    tenant = make_tenant("sandefjord")
    for scope, key in tenant.keys.items():
        assert client.get("/api/tenants", headers=auth(key)).status_code == 403, scope


def test_malformed_authorization_headers_are_401(client):
    for header in ("Bearer", "Basic abc", "Bearer sby.x", "Bearer sby.UPPER.0123.x", ""):
        response = client.get("/api/tenants", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_admin_key_passes_everywhere_for_existing_tenants(client, make_tenant):
    make_tenant("drammen", "3301")
    assert client.get("/api/tenants/drammen", headers=auth(ADMIN_KEY)).status_code == 200
