"""The demo region `smartby serve` runs: a few municipalities with live lake and air sensors.

It talks to the local platform through its public HTTP API only, exactly as `smartby simulate`
does, so the demo exercises the same ingest paths real network servers use. Everything is
idempotent: on every start the tenants and devices already exist (409 and 200 are fine), the
demo's previous ingest keys are revoked and a new one is issued, and frame counters continue
above anything sent before (see ``fleet``). Failures are logged and never reach the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import httpx

from shared.simulator.fleet import (
    REQUEST_TIMEOUT,
    ProvisioningError,
    Simulator,
    ensure_tenant,
    issue_ingest_key,
    make_fleet,
    revoke_keys_named,
    run_paced,
    utc_now,
)

log = logging.getLogger(__name__)

DEMO_SEED = 2025  # fixed: a restart must rebuild the same devices with the same keys
KEY_NAME = "demo-region"
HEALTH_ATTEMPTS = 120  # x HEALTH_INTERVAL_S: give the server a minute to come up
HEALTH_INTERVAL_S = 0.5
DEFAULT_TENANTS: tuple[tuple[str, str, str], ...] = (
    ("sandefjord", "Sandefjord", "3907"),
    ("drammen", "Drammen", "3301"),
)


def start_demo_region(
    base_url: str,
    admin_key: str,
    stop: threading.Event,
    tenants: Sequence[tuple[str, str, str]] = DEFAULT_TENANTS,
    devices_per_tenant: int = 6,
    rate: float = 0.5,
    *,
    transport: httpx.BaseTransport | None = None,
) -> threading.Thread:
    """Start a daemon thread that provisions ``tenants`` (id, name, kommunenummer) and posts
    ``rate`` uplinks/s across the region until ``stop`` is set. ``transport`` is for tests."""
    thread = threading.Thread(
        target=_run,
        args=(base_url, admin_key, stop, tuple(tenants), devices_per_tenant, rate, transport),
        name="smartby-demo-region",
        daemon=True,
    )
    thread.start()
    return thread


def _run(
    base_url: str,
    admin_key: str,
    stop: threading.Event,
    tenants: tuple[tuple[str, str, str], ...],
    devices_per_tenant: int,
    rate: float,
    transport: httpx.BaseTransport | None,
) -> None:
    try:
        with httpx.Client(
            base_url=base_url, timeout=REQUEST_TIMEOUT, transport=transport
        ) as client:
            if not _wait_for_health(client, stop):
                return
            simulators = [
                simulator
                for tenant in tenants
                if (simulator := _provision(client, admin_key, tenant, devices_per_tenant))
            ]
            if not simulators:
                log.warning("demo region: no tenant could be set up; no sensor data will flow")
                return
            for simulator in simulators:
                simulator.pace(rate / len(simulators))
            log.info(
                "demo region: %d sensors in %s, %.2g uplinks/s",
                sum(len(simulator.devices) for simulator in simulators),
                ", ".join(simulator.tenant for simulator in simulators),
                rate,
            )
            run_paced(simulators, stop, utc_now, on_error=_log_error)
    except Exception:  # the demo is a guest in the server process: never take it down
        log.exception("demo region stopped")


def _wait_for_health(client: httpx.Client, stop: threading.Event) -> bool:
    """Poll /api/health until it answers 200, a bounded number of times."""
    for _ in range(HEALTH_ATTEMPTS):
        try:
            if client.get("/api/health", timeout=REQUEST_TIMEOUT).status_code == 200:
                return True
        except httpx.HTTPError:
            pass  # not listening yet
        if stop.wait(HEALTH_INTERVAL_S):
            return False
    log.warning("demo region: the API did not become healthy; not starting the sensors")
    return False


def _provision(
    client: httpx.Client, admin_key: str, tenant: tuple[str, str, str], count: int
) -> Simulator | None:
    """Tenant, a fresh ingest key (revoking the previous demo's) and registered devices."""
    tenant_id, name, kommunenummer = tenant
    try:
        if ensure_tenant(client, admin_key, tenant_id, name, kommunenummer):
            log.info("demo region: created tenant %s", tenant_id)
        revoke_keys_named(client, admin_key, tenant_id, KEY_NAME)
        ingest_key = issue_ingest_key(client, admin_key, tenant_id, KEY_NAME)
    except (ProvisioningError, httpx.HTTPError) as error:
        log.warning("demo region: skipping %s: %s", tenant_id, error)
        return None
    simulator = Simulator(client, tenant_id, make_fleet(tenant_id, count, DEMO_SEED), ingest_key)
    registration = simulator.register(simulator.devices, admin_key)
    for dev_eui, reason in registration.failed.items():
        log.warning("demo region: device %s of %s not registered: %s", dev_eui, tenant_id, reason)
    return simulator


def _log_error(error: Exception) -> None:
    log.error("demo region: tick failed: %s", error, exc_info=error)
