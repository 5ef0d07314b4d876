"""The hourly timer that seals the open hours of quiet devices, invoked in-process."""

from __future__ import annotations

import json

import orjson
from azure.functions.timer import TimerRequest

from tests.support.uplinks import encrypt, ttn_uplink

EM300 = "24e124136b502217"
KEY = "2b7e151628aed2a6abf7158809cf4f3c"


def test_the_sweep_runs_hourly(registered):
    binding = json.loads(registered("seal_quiet_hours").get_function_json())["bindings"][0]
    assert binding["type"] == "timerTrigger"
    assert binding["schedule"] == "0 17 * * * *"


def test_the_sweep_seals_the_open_hour_of_a_device_that_went_quiet(registered):
    from functions import platform
    from shared.store.tenancy import TenantContainer
    from shared.telemetry.devices import DeviceUpsert
    from shared.telemetry.ingest import deliver
    from shared.telemetry.uplinks import parse_ttn
    from shared.tenants.model import TenantCreate

    ingestor = platform().ingestor
    platform().tenants.create(TenantCreate(id="drammen", name="Drammen", kommunenummer="3301"))
    ingestor.registry("drammen").put(EM300, DeviceUpsert.model_validate(
        {"model": "milesight-em300-th", "name": "Bragernes", "appSKey": KEY}))
    frm = encrypt(bytes.fromhex("01755c03679cff04687b"), KEY, "260B1A2C", 1)
    message = ttn_uplink(EM300, "260B1A2C", 1, frm, "2026-11-20T10:05:00Z")
    ingestor.ingest("drammen", [deliver("ttn", orjson.dumps(message), parse_ttn)])
    series = TenantContainer(platform().store.container("series"), "drammen")
    assert series.read(f"{EM300}|2026-11-20T10", EM300, "2026-11") is None

    registered("seal_quiet_hours").get_user_function()(TimerRequest(past_due=False))

    sealed = series.read(f"{EM300}|2026-11-20T10", EM300, "2026-11")
    assert sealed is not None and len(sealed["q"]["temperature"]["v"]) == 1
    state = TenantContainer(platform().store.container("latest"), "drammen").read(EM300)
    assert state is not None and "open" not in state
