"""Figures 3a and 3b: HTTP requests to Cosmos DB per reading stored, the cost that scales.

Ingest runs through `CosmosStore` against the real local Cosmos-API server
(`@vercel/cosmosdb-server`, started by `tests.support.local_servers`), and every HTTP request the
SDK sends is counted at its azure-core transport: reads, queries, failed creates and retries all
count, where counting port calls would hide them. Readings are those `Ingestor.ingest` reports
as stored. Two ways Event Hubs delivers:

* backlog: catching up after an outage, 8 sensors' 16 hours in time order, 256 per batch, so
  each device has 32 uplinks (five or six hourly buckets) in every batch;
* steady: live traffic, 256 sensors each sending once per batch of 256 (every 10 minutes). The
  first hour (6 batches) warms up: states are created and cached. The second hour is counted:
  its first batch seals every device's first hour, so the hour pays one seal per device and its
  six batches' states, as every later hour does.

Baseline for each: the naive design of one document per reading, i.e. one create of the reading
plus one upsert of the device's latest state per reading, performed against the same server for
the readings of the scenario's first batch (per reading it costs the same in every batch).
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from bench.report import Figure, progress
from bench.workload import Sensor, fleet, frames
from shared.bus.inprocess import InProcessBus
from shared.keys import CachedKeyStore
from shared.keys.local import LocalKeyStore, load_or_create_master_key
from shared.store.cosmos import CosmosStore
from shared.store.tenancy import TenantContainer
from shared.telemetry.ingest import Ingestor, deliver
from shared.telemetry.observations import Observation, iso
from shared.telemetry.series import month_of
from shared.telemetry.uplinks import parse_ttn
from shared.tenants.model import TenantCreate
from shared.tenants.service import TenantService
from tests.support.counting import CountingTransport
from tests.support.local_servers import cosmos_server

BATCH = 256


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str  # also its tenant's id
    sensors: list[Sensor]
    uplinks_each: int
    warm_up: int = 0  # batches ingested before counting starts


SCENARIOS = (
    Scenario("backlog", fleet(8, seed=2), 16 * 6),
    Scenario("steady", fleet(BATCH, seed=3), 12, warm_up=6),
)


def _ingest(
    store: CosmosStore, counter: CountingTransport, scenario: Scenario, keys_dir: Path
) -> tuple[float, list[Observation]]:
    """Requests per reading for the scenario, and the observations of its first batch."""
    keys = CachedKeyStore(
        LocalKeyStore(keys_dir / "keys.sqlite", load_or_create_master_key(keys_dir, None))
    )
    tenants = TenantService(store)
    tenants.create(TenantCreate(id=scenario.name, name=scenario.name.title(), kommunenummer="3907"))
    ingestor = Ingestor(store, keys, InProcessBus(), tenants)
    registry = ingestor.registry(scenario.name)
    for sensor in scenario.sensors:
        registry.put(sensor.dev_eui, sensor.registration())
    messages = [frame.ttn_json() for frame in frames(scenario.sensors, scenario.uplinks_each)]

    results = []
    for start in range(0, len(messages), BATCH):
        if len(results) == scenario.warm_up:
            counter.requests = 0
        batch = [deliver("ttn", raw, parse_ttn) for raw in messages[start : start + BATCH]]
        results.append(ingestor.ingest(scenario.name, batch))
    requests = counter.requests
    if rejected := [r for result in results for r in result.rejections]:
        raise AssertionError(f"the workload was quarantined: {rejected[0]}")
    counted = results[scenario.warm_up :]
    readings = sum(result.readings for result in counted)
    progress(
        f"cosmos {scenario.name}: {len(counted)} batches counted after {scenario.warm_up}, "
        f"{readings} readings, {requests} requests"
    )
    return requests / readings, results[0].observations


def _naive(
    store: CosmosStore, counter: CountingTransport, tenant: str, observations: list[Observation]
) -> float:
    """Requests per reading of one document per reading plus a latest-state upsert each."""
    series = TenantContainer(store.container("series"), tenant)
    latest = TenantContainer(store.container("latest"), tenant)
    counter.requests = 0
    stored = 0
    for o in observations:
        for r in o.readings:
            reading = {
                "id": f"{o.device}|{r['quantity']}|{o.epoch_ms}",
                "device": o.device,
                "quantity": r["quantity"],
                "time": iso(o.time),
                "value": r["value"],
                "unit": r["unit"],
            }
            series.create(reading, o.device, month_of(o.time))
            latest.upsert(reading | {"id": o.device})
            stored += 1
    progress(f"cosmos naive: {stored} readings, {counter.requests} requests")
    return counter.requests / stored


def measure() -> list[Figure]:
    figures = []
    counter = CountingTransport()
    with (
        warnings.catch_warnings(),
        cosmos_server() as endpoint,
        tempfile.TemporaryDirectory(prefix="smartby-bench-") as keys_dir,
    ):
        # The loopback test server's certificate is self-signed: verification is off on purpose.
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        store = CosmosStore(
            endpoint.url,
            endpoint.key,
            "bench",
            verify_tls=False,
            ensure_containers=True,
            transport=counter,
        )
        try:
            for scenario in SCENARIOS:
                per_reading, first_batch = _ingest(
                    store, counter, scenario, Path(keys_dir) / scenario.name
                )
                naive = _naive(store, counter, f"naive-{scenario.name}", first_batch)
                figures.append(
                    Figure(
                        f"cosmos_requests_per_reading_{scenario.name}",
                        per_reading,
                        "requests/reading",
                        naive,
                    )
                )
        finally:
            store.close()
    return figures
