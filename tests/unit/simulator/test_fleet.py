"""Demo fleets and the HTTP simulator, against a fake API behind httpx.MockTransport."""

from __future__ import annotations

import itertools
import logging
import re
import threading
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from shared.simulator.fleet import (
    Clock,
    DemoDevice,
    IngestKeyRefused,
    Simulator,
    ensure_tenant,
    issue_ingest_key,
    make_fleet,
    run_paced,
)
from shared.telemetry.codecs import get_codec
from shared.telemetry.envelope import open_envelope, parse_envelope
from shared.telemetry.lorawan import FrmPayloadCipher
from tests.unit.simulator.conftest import ADMIN_KEY, FakeApi, b64, dev_eui_of, fcnt_of

T0 = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)


def simulator(
    api: FakeApi, tenant: str, fleet: list[DemoDevice], at: datetime | Clock
) -> Simulator:
    """A simulator with a provisioned tenant and ingest key; ``at`` fixes or drives the clock."""
    client = api.client()
    ensure_tenant(client, ADMIN_KEY, tenant, tenant.title(), "3301")
    key = issue_ingest_key(client, ADMIN_KEY, tenant)
    clock = at if callable(at) else lambda: at
    return Simulator(client, tenant, fleet, key, clock=clock)


# --- make_fleet ------------------------------------------------------------------------------


def test_make_fleet_is_deterministic_per_seed() -> None:
    first, again = make_fleet("sandefjord", 12, seed=7), make_fleet("sandefjord", 12, seed=7)
    assert first == again
    assert [d.dev_eui for d in make_fleet("sandefjord", 12, seed=8)] != [d.dev_eui for d in first]
    assert [d.dev_eui for d in make_fleet("drammen", 12, seed=7)] != [d.dev_eui for d in first]
    assert make_fleet("sandefjord", 3, seed=7) == first[:3]


def test_make_fleet_is_a_plausible_municipal_mix() -> None:
    fleet = make_fleet("drammen", 10, seed=1)
    water = [d for d in fleet if d.medium == "water"]
    assert len(water) == 6 and len(fleet) - len(water) == 4
    assert {d.area for d in water} == {"eikeren", "glitre", "drammenselva"}
    assert all(d.model == "decentlab-dl-pr26" for d in water if d.area == "drammenselva")
    assert {d.network for d in fleet} == {"ttn", "chirpstack", "ip"}
    assert len({d.dev_eui for d in fleet}) == len({d.name for d in fleet}) == 10
    for device in fleet:
        assert re.fullmatch(r"[0-9a-f]{16}", device.dev_eui)
        assert re.fullmatch(r"[a-z0-9-]+", device.area)
        assert len(device.key) == (32 if device.network == "ip" else 16)
        assert 59.0 < device.lat < 60.0 and 9.5 < device.lon < 10.5
    for device in fleet:
        if device.network == "ttn":
            assert device.dev_addr >> 25 == 0x13  # TTN NetID 000013: DevAddr 26000000/7
        elif device.network == "chirpstack":
            assert 0 < device.dev_addr < 1 << 25


def test_every_model_appears_in_a_larger_fleet_and_unknown_tenants_get_the_region() -> None:
    models = {d.model for tenant in ("sandefjord", "drammen") for d in make_fleet(tenant, 20, 3)}
    assert models == {
        "milesight-em300-th", "elsys-ers", "elsys-elt", "dragino-lht65", "dragino-lsn50v2-d20",
        "decentlab-dl-ds18", "decentlab-dl-pr26", "json",
    }  # fmt: skip
    areas = {d.area for d in make_fleet("larvik", 30, 1)}
    assert {"goksjo", "drammenselva"} <= areas


def test_registration_body_carries_the_right_key_field() -> None:
    fleet = make_fleet("drammen", 10, seed=1)
    lorawan = next(d for d in fleet if d.network != "ip").registration()
    ip = next(d for d in fleet if d.network == "ip").registration()
    assert set(lorawan) == {
        "model", "name", "location", "area", "medium", "params", "tags", "appSKey",
    }  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{32}", lorawan["appSKey"])
    assert re.fullmatch(r"[0-9a-f]{64}", ip["aesKey"]) and "appSKey" not in ip
    assert set(lorawan["location"]) == {"lat", "lon"}


# --- registration ----------------------------------------------------------------------------


def test_register_puts_every_device_idempotently(api: FakeApi) -> None:
    fleet = make_fleet("drammen", 5, seed=1)
    sim = simulator(api, "drammen", fleet, T0)
    first = sim.register(fleet, ADMIN_KEY)
    assert first.registered == [d.dev_eui for d in fleet] and not first.failed
    assert sim.register(fleet, ADMIN_KEY).registered == first.registered  # 200 the second time
    puts = [r for r in api.requests if r.method == "PUT"]
    assert {r.url.path for r in puts} == {
        f"/api/tenants/drammen/devices/{d.dev_eui}" for d in fleet
    }
    assert all(r.headers["authorization"] == f"Bearer {ADMIN_KEY}" for r in puts)
    assert api.devices[("drammen", fleet[0].dev_eui)] == fleet[0].registration()


def test_register_collects_failures_without_echoing_keys(api: FakeApi) -> None:
    fleet = make_fleet("drammen", 3, seed=1)
    sim = simulator(api, "drammen", fleet, T0)
    api.device_status = 422
    result = sim.register(fleet, ADMIN_KEY)
    assert not result.registered
    assert set(result.failed.values()) == {"HTTP 422 Invalid input"}


# --- ticks -----------------------------------------------------------------------------------


def test_tick_posts_each_due_device_to_its_network_path_with_the_ingest_key(api: FakeApi) -> None:
    fleet = make_fleet("drammen", 10, seed=1)
    sim = simulator(api, "drammen", fleet, T0)
    assert sim.tick(T0) == 0  # every device's first slot is after the start
    assert sim.tick(T0 + timedelta(hours=1)) == 10
    ingests = api.ingests()
    (ingest_key,) = api.demo_keys("drammen", "simulator")
    assert all(r.headers["authorization"] == f"Bearer {ingest_key}" for r in ingests)
    paths = {dev_eui_of(r): (r.url.path, r.url.query) for r in ingests}
    for device in fleet:
        expected = {
            "ttn": ("/api/tenants/drammen/ingest/ttn", b""),
            "chirpstack": ("/api/tenants/drammen/ingest/chirpstack", b"event=up"),
            "ip": (f"/api/tenants/drammen/ingest/device/{device.dev_eui}", b""),
        }[device.network]
        assert paths[device.dev_eui] == expected
    assert sim.stats.sent == sim.stats.accepted == 10

    api.ingest_status = 422
    assert sim.tick(T0 + timedelta(hours=2)) == 10
    assert sim.stats.accepted == 10 and sim.stats.rejected == {422: 10}
    assert "rejected 10 (10x422)" in sim.stats.summary()


def test_posted_payloads_decrypt_and_decode_with_the_real_codecs(api: FakeApi) -> None:
    fleet = {d.dev_eui: d for d in make_fleet("sandefjord", 15, seed=4)}
    sim = simulator(api, "sandefjord", list(fleet.values()), T0)
    sim.tick(T0 + timedelta(hours=1))
    for request in api.ingests():
        device = fleet[dev_eui_of(request)]
        body = orjson.loads(request.content)
        if device.network == "ip":
            payload, fport = open_envelope(
                parse_envelope(body), device.key, "sandefjord", device.dev_eui
            ), 0
        else:
            if device.network == "ttn":
                message = body["uplink_message"]
                frm, fport, fcnt = b64(message["frm_payload"]), message["f_port"], message["f_cnt"]
                dev_addr = int(body["end_device_ids"]["dev_addr"], 16)
            else:
                frm, fport, fcnt = b64(body["data"]), body["fPort"], body["fCnt"]
                dev_addr = int(body["devAddr"], 16)
            assert dev_addr == device.dev_addr
            payload = FrmPayloadCipher(device.key).decrypt(frm, dev_addr, fcnt)
        measurements = get_codec(device.model).decode(payload, fport, device.params)
        values = {m.quantity: m.value for m in measurements}
        if device.medium == "water":
            water = values.get("probe_temperature", values.get("liquid_temperature"))
            assert water is not None and 0.0 < water < 6.0  # a February lake
        else:
            assert -20.0 < values["temperature"] < 12.0  # a February morning


def test_fcnt_counts_up_by_one_and_continues_above_itself_after_a_restart(api: FakeApi) -> None:
    fleet = make_fleet("drammen", 4, seed=1)
    sim = simulator(api, "drammen", fleet, T0)
    sim.pace(2.0)  # 4 devices, one uplink each every 2 s
    for step in range(1, 41):
        sim.tick(T0 + timedelta(seconds=0.25 * step))
    sent: dict[str, list[int]] = {}
    for request in api.ingests():
        if (fcnt := fcnt_of(request)) is not None:
            sent.setdefault(dev_eui_of(request), []).append(fcnt)
    assert sent and all(len(counts) >= 4 for counts in sent.values())
    for counts in sent.values():
        assert counts == list(range(counts[0], counts[0] + len(counts)))

    restart = T0 + timedelta(seconds=10.2)  # same second as the last uplinks, slower rate
    again = simulator(api, "drammen", make_fleet("drammen", 4, seed=1), restart)
    again.pace(0.5)
    api.requests.clear()
    again.tick(restart + timedelta(seconds=8))
    for request in api.ingests():
        if (fcnt := fcnt_of(request)) is not None:
            assert fcnt > max(sent[dev_eui_of(request)])


def test_pace_spreads_the_fleet_and_refuses_more_than_one_uplink_per_device_second(
    api: FakeApi,
) -> None:
    fleet = make_fleet("drammen", 4, seed=1)
    sim = simulator(api, "drammen", fleet, T0)
    sim.pace(2.0)
    slots = sorted(d.next_at for d in fleet)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(slots)] == [
        pytest.approx(0.5)
    ] * 3
    with pytest.raises(ValueError, match="at most 4 uplinks/s"):
        sim.pace(4.5)


def test_transport_errors_are_counted_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(base_url="http://smartby.test", transport=httpx.MockTransport(refuse))
    sim = Simulator(client, "drammen", make_fleet("drammen", 3, 1), "k", clock=lambda: T0)
    assert sim.tick(T0 + timedelta(hours=1)) == 3
    assert sim.stats.errors == sim.stats.sent == 3 and sim.stats.accepted == 0


# --- run -------------------------------------------------------------------------------------


class SimulatedTime(threading.Event):
    """A clock and a stop event whose waits advance the clock instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and 0 <= timeout <= 5.0
        self.now += timedelta(seconds=timeout)
        return self.is_set()


def test_run_posts_at_the_rate_until_the_duration_is_over(api: FakeApi) -> None:
    time = SimulatedTime(T0 + timedelta(milliseconds=300))
    fleet = make_fleet("drammen", 4, seed=1)
    sim = simulator(api, "drammen", fleet, time)
    stats = sim.run(rate=2.0, duration=30.0, stop_event=time)
    assert 56 <= stats.sent <= 60 and stats.accepted == stats.sent
    assert time.now == T0 + timedelta(seconds=30.3)


def test_run_stops_at_once_when_the_event_is_set(api: FakeApi) -> None:
    stop = threading.Event()
    stop.set()
    sim = simulator(api, "drammen", make_fleet("drammen", 2, 1), T0)
    assert sim.run(rate=1.0, stop_event=stop).sent == 0


def revoke(api: FakeApi, tenant: str) -> None:
    api.keys = {key: entry for key, entry in api.keys.items() if entry["tenant"] != tenant}


def test_a_refused_ingest_key_stops_the_run_at_the_first_refusal(api: FakeApi) -> None:
    """401 or 403 is about the key, not the message: every further uplink would be refused."""
    time = SimulatedTime(T0)
    sim = simulator(api, "drammen", make_fleet("drammen", 4, seed=1), time)
    sim.tick(T0 + timedelta(hours=1))
    revoke(api, "drammen")
    api.requests.clear()
    with pytest.raises(IngestKeyRefused) as refused:
        sim.run(rate=2.0, duration=60.0, stop_event=time)
    assert str(refused.value) == (
        "the ingest key of drammen was refused (HTTP 401 Unauthenticated): "
        "revoked, or replaced by a newer run?"
    )
    assert len(api.ingests()) == 1 and sim.stats.rejected == {401: 1}


def test_the_demo_loop_drops_a_simulator_whose_key_is_refused_and_goes_on(api: FakeApi) -> None:
    time = SimulatedTime(T0)
    refused, going_on = (simulator(api, tenant, make_fleet(tenant, 2, seed=1), time)
                         for tenant in ("sandefjord", "drammen"))
    revoke(api, "sandefjord")
    errors: list[Exception] = []
    for sim in (refused, going_on):
        sim.pace(0.5)
    run_paced([refused, going_on], time, time, T0 + timedelta(minutes=1), errors.append)
    assert [type(error) for error in errors] == [IngestKeyRefused]
    assert refused.stats.sent == 1
    assert going_on.stats.accepted == going_on.stats.sent >= 25


def test_the_demo_loop_ends_when_every_key_is_refused(api: FakeApi) -> None:
    time = SimulatedTime(T0)
    sim = simulator(api, "drammen", make_fleet("drammen", 2, seed=1), time)
    revoke(api, "drammen")
    sim.pace(1.0)
    run_paced([sim], time, time, on_error=lambda error: None)  # no deadline: it must return
    assert sim.stats.sent == 1


def test_a_connection_error_is_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that is down would otherwise get one warning per uplink."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(base_url="http://smartby.test", transport=httpx.MockTransport(refuse))
    time = SimulatedTime(T0 + timedelta(milliseconds=300))
    sim = Simulator(client, "drammen", make_fleet("drammen", 4, 1), "k", clock=time)
    with caplog.at_level(logging.WARNING, logger="shared.simulator.fleet"):
        sim.run(rate=2.0, duration=25.0, stop_event=time)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3  # at 0 s, 10 s and 20 s
    assert messages[0].endswith(": ConnectError (shown again at most every 10 s, with a count)")
    held_back = [int(re.search(r"and (\d+) more", text)[1]) for text in messages[1:]]
    assert all(count >= 18 for count in held_back)
    assert len(messages) + sum(held_back) <= sim.stats.errors == sim.stats.sent
