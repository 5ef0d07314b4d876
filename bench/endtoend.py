"""Figure 2: TTN webhook JSON to stored readings on the local runtime, messages per second.

Real The Things Stack JSON bytes go through `deliver(..., parse_ttn)` and `Ingestor.ingest` into
the embedded SQLite store (a temporary directory) with the in-process bus, as `smartby serve`
wires them. The fleet: 200 sensors of every LoRaWAN model, each sending every 10 minutes for 8
simulated hours, delivered in time order in Event Hubs batches of 256 (host.json's
maxEventBatchSize).

Baseline: the very same messages ingested one message per `ingest` call (batch size 1), as a
trigger with cardinality "one" would; each run starts from a fresh store.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.report import Figure, progress
from bench.workload import TENANT, Sensor, fleet, frames
from shared.bootstrap import Platform, build_platform
from shared.settings import Settings
from shared.telemetry.ingest import deliver
from shared.telemetry.uplinks import parse_ttn
from shared.tenants.model import TenantCreate

SENSORS = 200
UPLINKS_EACH = 8 * 6  # 8 hours, every 10 minutes
BATCH = 256


def platform(data_dir: Path, sensors: list[Sensor]) -> Platform:
    """The local runtime's adapters with one tenant and the fleet registered."""
    settings = Settings(store="embedded", bus="inprocess", keystore="local", data_dir=data_dir)
    built = build_platform(settings)
    built.tenants.create(TenantCreate(id=TENANT, name="Sandefjord", kommunenummer="3907"))
    registry = built.ingestor.registry(TENANT)
    for sensor in sensors:
        registry.put(sensor.dev_eui, sensor.registration())
    return built


def ingest_all(target: Platform, messages: list[bytes], batch_size: int) -> tuple[float, int]:
    """Seconds to parse and ingest every message in batches, and the readings stored."""
    readings = 0
    started = time.perf_counter()
    for start in range(0, len(messages), batch_size):
        batch = [deliver("ttn", raw, parse_ttn) for raw in messages[start : start + batch_size]]
        result = target.ingestor.ingest(TENANT, batch)
        if result.rejections:
            raise AssertionError(f"the workload was quarantined: {result.rejections[0]}")
        readings += result.readings
    return time.perf_counter() - started, readings


def _run(sensors: list[Sensor], messages: list[bytes], batch_size: int) -> tuple[float, int]:
    """Messages per second into a fresh store, and the readings stored."""
    with tempfile.TemporaryDirectory(prefix="smartby-bench-") as data_dir:
        target = platform(Path(data_dir), sensors)
        try:
            seconds, readings = ingest_all(target, messages, batch_size)
        finally:
            target.close()
    progress(f"end to end, batches of {batch_size}: {readings} readings in {seconds:.2f} s")
    return len(messages) / seconds, readings


def measure() -> Figure:
    sensors = fleet(SENSORS)
    messages = [frame.ttn_json() for frame in frames(sensors, UPLINKS_EACH)]
    progress(f"end to end: {len(messages)} TTN messages from {len(sensors)} sensors")
    batched = [_run(sensors, messages, BATCH) for _ in range(2)]  # the better of two
    one_by_one, readings = _run(sensors, messages, 1)  # baseline: one message per ingest call
    if any(stored != readings for _, stored in batched):
        raise AssertionError("batched and one-by-one ingest stored different readings")
    rate = max(rate for rate, _ in batched)
    return Figure("endtoend_embedded_msgs_per_s", rate, "msgs/s", one_by_one)
