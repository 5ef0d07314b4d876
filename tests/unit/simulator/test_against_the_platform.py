"""The simulator against the real API app (embedded store): every format it sends is accepted.

This pins the contract both sides rely on: registration bodies, ingest paths, the canonical
(lower-case) DevEUI in the envelope's associated data, and FCnts that never go backwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from shared.simulator.fleet import Simulator, ensure_tenant, issue_ingest_key, make_fleet
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")


def test_every_device_model_and_network_is_accepted_by_ingest(client: TestClient) -> None:
    assert ensure_tenant(client, ADMIN_KEY, "drammen", "Drammen", "3301")
    fleet = make_fleet("drammen", 20, seed=3)
    assert {d.network for d in fleet} == {"ttn", "chirpstack", "ip"}
    start = datetime.now(UTC)
    sim = Simulator(
        client,
        "drammen",
        fleet,
        issue_ingest_key(client, ADMIN_KEY, "drammen"),
        clock=lambda: start,
    )
    registration = sim.register(fleet, ADMIN_KEY)
    assert not registration.failed, registration.failed

    for hour in (1, 2):
        assert sim.tick(start + timedelta(hours=hour)) == len(fleet)
    assert sim.stats.accepted == 2 * len(fleet), sim.stats.summary()

    device = client.get(
        f"/api/tenants/drammen/devices/{fleet[0].dev_eui}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ).json()
    assert device["hasAppSKey"] or device["hasAesKey"]
    assert "appSKey" not in device and "aesKey" not in device


def test_a_restarted_simulator_is_not_rejected_as_a_replay(client: TestClient) -> None:
    ensure_tenant(client, ADMIN_KEY, "sandefjord", "Sandefjord", "3907")
    key = issue_ingest_key(client, ADMIN_KEY, "sandefjord")
    start = datetime.now(UTC)
    first = Simulator(
        client, "sandefjord", make_fleet("sandefjord", 4, 1), key, clock=lambda: start
    )
    first.register(first.devices, ADMIN_KEY)
    first.pace(4.0)  # one uplink per device per second
    for step in range(1, 9):
        first.tick(start + timedelta(seconds=0.5 * step))
    restart = start + timedelta(seconds=4.1)
    again = Simulator(
        client, "sandefjord", make_fleet("sandefjord", 4, 1), key, clock=lambda: restart
    )
    again.pace(0.5)
    again.tick(restart + timedelta(seconds=10))
    assert first.stats.accepted == first.stats.sent > 0
    assert again.stats.accepted == again.stats.sent == 4, again.stats.summary()
