"""A whole request's logs, with keys in headers and bodies, contain no key."""

from __future__ import annotations

import logging

from tests.conftest import ADMIN_KEY, auth


def test_no_key_appears_in_logs_across_key_lifecycle(client, make_tenant, caplog):
    caplog.set_level(logging.DEBUG)
    from shared import logs

    logs.configure("json", "DEBUG")  # filters every handler on the root, caplog's among them
    tenant = make_tenant("sandefjord")
    issued = client.post(
        "/api/tenants/sandefjord/keys",
        json={"name": "x", "scopes": ["read"]},
        headers=auth(ADMIN_KEY),
    ).json()["key"]
    client.get("/api/tenants/sandefjord", headers=auth(issued + "tampered"))
    # A key that slips into a message all the same is redacted by what `configure` installed.
    logging.getLogger("shared.anywhere").warning("careless: %s", issued)
    client.get("/api/tenants/sandefjord", headers=auth(tenant.keys["read"]))
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert caplog.records, "the requests were logged"
    for secret in (ADMIN_KEY, issued, *tenant.keys.values()):
        assert secret not in text
        assert secret.split(".")[-1] not in text
