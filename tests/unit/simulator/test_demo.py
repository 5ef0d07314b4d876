"""The demo region thread: provisions idempotently, streams, survives errors, stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from shared.simulator import demo
from tests.unit.simulator.conftest import ADMIN_KEY, BASE_URL, FakeApi, dev_eui_of, fcnt_of

TENANTS = (("sandefjord", "Sandefjord", "3907"), ("drammen", "Drammen", "3301"))


def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def run_demo(api: FakeApi, uplinks: int) -> None:
    """Start the demo, let it post ``uplinks`` uplinks, stop it and check it ends."""
    stop = threading.Event()
    before = len(api.ingests())
    thread = demo.start_demo_region(
        BASE_URL, ADMIN_KEY, stop, TENANTS, devices_per_tenant=2, rate=4.0, transport=api.transport
    )
    assert thread.daemon
    try:
        assert eventually(lambda: len(api.ingests()) >= before + uplinks)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_demo_waits_for_health_provisions_and_streams(api: FakeApi) -> None:
    api.unhealthy_checks = 2
    run_demo(api, uplinks=6)
    assert api.tenants == {"sandefjord", "drammen"}
    for tenant, _, _ in TENANTS:
        assert len(api.demo_keys(tenant, demo.KEY_NAME)) == 1
        assert sum(1 for t, _ in api.devices if t == tenant) == 2
    first_call = api.requests[0]
    assert first_call.url.path == "/api/health"
    assert {r.url.path.split("/")[3] for r in api.ingests()} == {"sandefjord", "drammen"}


def test_a_restarted_demo_reuses_everything_and_never_replays_an_fcnt(api: FakeApi) -> None:
    run_demo(api, uplinks=4)
    first_run = api.ingests()
    last_fcnt: dict[str, int] = {}
    for request in first_run:
        if (fcnt := fcnt_of(request)) is not None:
            last_fcnt[dev_eui_of(request)] = max(fcnt, last_fcnt.get(dev_eui_of(request), 0))
    devices = dict(api.devices)

    run_demo(api, uplinks=4)
    assert api.devices == devices  # the same devices with the same keys, registered again
    for tenant, _, _ in TENANTS:
        assert len(api.demo_keys(tenant, demo.KEY_NAME)) == 1  # the old key was revoked
    checked = 0
    for request in api.ingests()[len(first_run) :]:
        fcnt, dev_eui = fcnt_of(request), dev_eui_of(request)
        if fcnt is not None and dev_eui in last_fcnt:
            assert fcnt > last_fcnt[dev_eui]
            checked += 1
    assert checked


def test_the_demo_keeps_going_when_the_api_refuses_everything(api: FakeApi) -> None:
    api.device_status = 500
    api.ingest_status = 500
    run_demo(api, uplinks=4)


def test_the_demo_gives_up_quietly_when_the_api_never_becomes_healthy(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "HEALTH_ATTEMPTS", 3)
    monkeypatch.setattr(demo, "HEALTH_INTERVAL_S", 0.01)
    api.unhealthy_checks = 10
    thread = demo.start_demo_region(BASE_URL, ADMIN_KEY, threading.Event(), transport=api.transport)
    thread.join(5)
    assert not thread.is_alive()
    assert {r.url.path for r in api.requests} == {"/api/health"}


def test_the_demo_skips_a_tenant_it_cannot_set_up(api: FakeApi) -> None:
    stop = threading.Event()
    thread = demo.start_demo_region(
        BASE_URL, "wrong-admin-key", stop, TENANTS, 2, 4.0, transport=api.transport
    )
    thread.join(5)
    assert not thread.is_alive()  # no tenant could be set up: nothing to simulate
    assert not api.ingests()
