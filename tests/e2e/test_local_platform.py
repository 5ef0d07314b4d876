"""`smartby serve` as a user runs it: the API over HTTP, data kept across a restart."""

from __future__ import annotations

import time

import httpx

from tests.e2e.conftest import ADMIN_KEY, serve

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_serve_prints_where_things_are(served):
    banner = served.output.read_text()
    assert f"{served.url}/" in banner
    assert f"{served.url}/api/docs" in banner
    # A key the operator gave is theirs to know: not repeated into a terminal or a CI log (a
    # generated one is shown, once: tests/unit/cli/test_serve.py).
    assert "Admin key: from SMARTBY_ADMIN_KEY" in banner
    assert ADMIN_KEY not in banner


def test_admin_creates_a_tenant_and_a_key_and_isolation_holds(api):
    for tenant, number in (("sandefjord", "3907"), ("drammen", "3301")):
        created = api.post("/api/tenants", headers=ADMIN,
                           json={"id": tenant, "name": tenant.title(), "kommunenummer": number})
        assert created.status_code == 201, created.text
    issued = api.post("/api/tenants/sandefjord/keys", headers=ADMIN,
                      json={"name": "app backend", "scopes": ["read"]})
    assert issued.status_code == 201
    key = {"Authorization": f"Bearer {issued.json()['key']}"}
    assert api.get("/api/tenants/sandefjord", headers=key).status_code == 200
    foreign = api.get("/api/tenants/drammen", headers=key)
    assert foreign.status_code == 403
    assert foreign.headers["content-type"] == "application/problem+json"


def test_ctrl_c_stops_cleanly_and_a_restart_keeps_the_data(served):
    created = httpx.post(f"{served.url}/api/tenants", headers=ADMIN, timeout=10,
                         json={"id": "larvik", "name": "Larvik", "kommunenummer": "3909"})
    assert created.status_code == 201
    assert served.stop() == 0
    again = serve(served.data_dir)
    try:
        tenant = httpx.get(f"{again.url}/api/tenants/larvik", headers=ADMIN, timeout=10)
        assert tenant.status_code == 200
        assert tenant.json()["name"] == "Larvik"
    finally:
        assert again.stop() == 0


def test_generated_admin_key_is_kept_in_the_data_dir(tmp_path):
    server = serve(tmp_path / "data", SMARTBY_ADMIN_KEY="")
    try:
        key = (tmp_path / "data" / "admin.key").read_text().strip()
        assert oct((tmp_path / "data" / "admin.key").stat().st_mode)[-3:] == "600"
        assert key in server.output.read_text()
        listed = httpx.get(f"{server.url}/api/tenants", timeout=10,
                           headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200
    finally:
        server.stop()


def test_demo_region_fills_the_platform_with_encrypted_uplinks(tmp_path):
    """What `make run` shows a municipality evaluating Smartby: live readings, no setup."""
    server = serve(tmp_path / "data", demo=True)
    try:
        deadline = time.monotonic() + 60
        latest: list = []
        while time.monotonic() < deadline and len(latest) < 2:
            time.sleep(1)
            response = httpx.get(f"{server.url}/api/tenants/sandefjord/latest", headers=ADMIN,
                                 timeout=10)
            if response.status_code == 200:
                latest = response.json()["items"]
        assert len(latest) >= 2, server.output.read_text()[-2000:]
        devices = httpx.get(f"{server.url}/api/tenants/sandefjord/devices", headers=ADMIN,
                            timeout=10).json()["items"]
        assert any(d["hasAppSKey"] for d in devices)
        quarantine = httpx.get(f"{server.url}/api/tenants/sandefjord/quarantine",
                               headers=ADMIN, timeout=10).json()
        assert quarantine["counts"] == {}
    finally:
        assert server.stop() == 0
