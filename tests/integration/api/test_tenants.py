"""Tenants and keys through the HTTP API, as an onboarding tool and an app backend use them."""

from __future__ import annotations

from tests.conftest import ADMIN_KEY, auth

SANDEFJORD = {"id": "sandefjord", "name": "Sandefjord", "kommunenummer": "3907"}


def test_admin_creates_tenant_with_defaults(client):
    response = client.post("/api/tenants", json=SANDEFJORD, headers=auth(ADMIN_KEY))
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "sandefjord"
    assert body["timezone"] == "Europe/Oslo"
    assert body["locale"] == "nb-NO"
    assert body["retentionDays"] == 400


def test_creating_a_tenant_twice_is_a_conflict(client):
    client.post("/api/tenants", json=SANDEFJORD, headers=auth(ADMIN_KEY))
    response = client.post("/api/tenants", json=SANDEFJORD, headers=auth(ADMIN_KEY))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


def test_tenant_create_rejects_unknown_fields_and_bad_values(client):
    for body in (
        SANDEFJORD | {"unexpected": 1},
        SANDEFJORD | {"kommunenummer": "39070"},
        SANDEFJORD | {"kommunenummer": 3907},
        SANDEFJORD | {"kommunenummer": "\uff13\uff19\uff10\uff17"},  # full-width digits
        SANDEFJORD | {"kommunenummer": "\u0663\u0669\u0660\u0667"},  # Arabic-Indic digits
        SANDEFJORD | {"id": "Sandefjord!"},
        SANDEFJORD | {"timezone": "Mars/Olympus"},
    ):
        response = client.post("/api/tenants", json=body, headers=auth(ADMIN_KEY))
        assert response.status_code == 422, body
        assert response.json()["errors"]


def test_only_the_admin_creates_tenants(client, make_tenant):
    tenant = make_tenant("drammen", "3301")
    response = client.post(
        "/api/tenants", json=SANDEFJORD, headers=auth(tenant.keys["tenant-admin"])
    )
    assert response.status_code == 403


def test_tenant_admin_updates_its_tenant(client, make_tenant):
    tenant = make_tenant("sandefjord")
    response = client.patch(
        "/api/tenants/sandefjord",
        json={"name": "Sandefjord kommune", "retentionDays": 30},
        headers=auth(tenant.keys["tenant-admin"]),
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Sandefjord kommune"
    assert client.get("/api/tenants/sandefjord", headers=auth(tenant.keys["read"])).json()[
        "retentionDays"
    ] == 30


def test_read_key_cannot_update_tenant(client, make_tenant):
    tenant = make_tenant("sandefjord")
    response = client.patch(
        "/api/tenants/sandefjord", json={"name": "x"}, headers=auth(tenant.keys["read"])
    )
    assert response.status_code == 403


def test_issued_key_is_shown_once_and_stored_only_as_hash(client, platform, make_tenant):
    make_tenant("sandefjord")
    issued = client.post(
        "/api/tenants/sandefjord/keys",
        json={"name": "portal", "scopes": ["app"]},
        headers=auth(ADMIN_KEY),
    ).json()
    assert issued["key"].startswith("sby.sandefjord.")
    stored = platform.store.container("apikeys").read("sandefjord", issued["id"])
    assert issued["key"].split(".")[-1] not in str(stored)
    listed = client.get("/api/tenants/sandefjord/keys", headers=auth(ADMIN_KEY)).json()
    assert issued["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)


def test_tenant_keys_cannot_carry_the_admin_scope(client, make_tenant):
    make_tenant("sandefjord")
    response = client.post(
        "/api/tenants/sandefjord/keys",
        json={"name": "sneaky", "scopes": ["admin"]},
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 422


def test_revoked_key_stops_working_at_once(client, make_tenant):
    tenant = make_tenant("sandefjord")
    key = tenant.keys["read"]
    key_id = key.split(".")[2]
    assert client.get("/api/tenants/sandefjord", headers=auth(key)).status_code == 200
    revoked = client.delete(f"/api/tenants/sandefjord/keys/{key_id}", headers=auth(ADMIN_KEY))
    assert revoked.status_code == 204
    assert client.get("/api/tenants/sandefjord", headers=auth(key)).status_code == 401


def test_admin_lists_tenants_in_pages(client, make_tenant):
    for name in ("aaa", "bbb", "ccc"):
        make_tenant(name)
    first = client.get("/api/tenants?limit=2", headers=auth(ADMIN_KEY)).json()
    second = client.get(
        f"/api/tenants?limit=2&continuation={first['continuation']}", headers=auth(ADMIN_KEY)
    ).json()
    assert [t["id"] for t in first["items"] + second["items"]] == ["aaa", "bbb", "ccc"]
    assert second["continuation"] is None


def test_unknown_tenant_is_404_for_the_admin(client):
    response = client.get("/api/tenants/nowhere", headers=auth(ADMIN_KEY))
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_concurrent_changes_to_a_tenant_all_apply(client, make_tenant):
    """Two operators (or `smartby onboard` and a hand-made PATCH) at once: each change is
    applied over the other, none answers as if the store were down."""
    from concurrent.futures import ThreadPoolExecutor

    admin = auth(make_tenant("sandefjord").keys["tenant-admin"])
    fields = [{"name": f"Sandefjord {i}"} for i in range(40)] + [{"locale": "nn-NO"}]

    def patch(body):
        return client.patch("/api/tenants/sandefjord", json=body, headers=admin)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(patch, fields))
    assert {a.status_code for a in answers} == {200}
    assert client.get("/api/tenants/sandefjord", headers=admin).json()["locale"] == "nn-NO"


def test_a_tenant_that_keeps_changing_is_a_conflict_to_retry(client, make_tenant, monkeypatch):
    from shared.store import PreconditionFailed
    from shared.store.tenancy import TenantContainer

    admin = auth(make_tenant("sandefjord").keys["tenant-admin"])

    def always_changed(self, doc, *suffix, etag=None):
        raise PreconditionFailed("changed meanwhile")

    monkeypatch.setattr(TenantContainer, "replace", always_changed)
    response = client.patch("/api/tenants/sandefjord", json={"name": "S"}, headers=admin)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry" in response.json()["detail"]


def test_every_key_is_listed_and_a_tenant_holds_a_bounded_number(client, platform, make_tenant):
    """A leaked key must be findable to be revoked: the list is complete, however many."""
    from shared.tenants import service
    from shared.tenants.model import ApiKeyCreate, Scope

    admin = auth(make_tenant("sandefjord").keys["tenant-admin"])
    listed = client.get("/api/tenants/sandefjord/keys", headers=admin).json()
    for i in range(service.MAX_KEYS_PER_TENANT - len(listed) - 1):
        platform.api_keys.issue("sandefjord", ApiKeyCreate(name=f"app {i}", scopes=[Scope.READ]))
    newest = client.post("/api/tenants/sandefjord/keys", headers=admin,
                         json={"name": "leaked", "scopes": ["ingest"]})
    assert newest.status_code == 201, newest.text
    listed = client.get("/api/tenants/sandefjord/keys", headers=admin).json()
    assert len(listed) == service.MAX_KEYS_PER_TENANT
    assert listed[-1]["id"] == newest.json()["id"]

    refused = client.post("/api/tenants/sandefjord/keys", headers=admin,
                          json={"name": "one more", "scopes": ["read"]})
    assert refused.status_code == 409, refused.text
    assert "revoke" in refused.json()["detail"]
    unused = next(key["id"] for key in listed if key["name"] == "app 0")
    assert client.delete(f"/api/tenants/sandefjord/keys/{unused}", headers=admin).status_code == 204
    assert client.post("/api/tenants/sandefjord/keys", headers=admin,
                       json={"name": "one more", "scopes": ["read"]}).status_code == 201


def test_request_schemas_admit_only_what_the_api_accepts(client):
    """A client generated from the OpenAPI document offers no value the API then refuses."""
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    scopes = schemas["ApiKeyCreate"]["properties"]["scopes"]["items"]["enum"]
    assert scopes == ["tenant-admin", "ingest", "app", "read"]  # `admin` is never issued
    device = schemas["DeviceUpsert"]["properties"]
    assert {"json", "dragino-lht65"} <= set(device["model"]["enum"])
    assert device["params"]["propertyNames"] == {"pattern": "^[a-z_]{1,40}$"}


def test_names_and_tags_are_one_line_of_printable_text(client, make_tenant):
    """Control characters would be obeyed by the console or log that shows them back."""
    tenant = make_tenant("larvik", "3909")
    admin = auth(tenant.keys["tenant-admin"])
    device = "/api/tenants/larvik/devices/0004a30b001c2b3d"
    for text in ("\x00\x1b[2J", "\x07 ", " ", "Farris\nbadeplass", "\u200b", "\xa0", "a\u2028b",
                 "a\x85b", "\u202eevil", "x\x9b2J", "\u061cx", "\xad", "\u3164", "\u2800",
                 "\U000e0041\U000e0042", "\ufff9a"):
        for method, path, body in (
            ("PATCH", "/api/tenants/larvik", {"name": text}),
            ("POST", "/api/tenants/larvik/keys", {"name": text, "scopes": ["read"]}),
            ("PUT", device, {"model": "json", "name": text}),
            ("PUT", device, {"model": "json", "name": "Farris", "tags": [text]}),
        ):
            response = client.request(method, path, json=body, headers=admin)
            assert response.status_code == 422, (method, path, text, response.text)
    accepted = client.put(device, json={"model": "json", "name": " Tjøme brygge 🌊 ",
                                        "tags": ["badevann 2026", "Skolegården"]}, headers=admin)
    assert accepted.status_code == 201, accepted.text
