"""A device's newest hour rides in its latest-state document until a newer hour seals it.

Every test runs on the embedded store and on Cosmos (the local server), and reads back through
`TimeSeries.read`, which the observations API serves.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from shared.store import Unavailable
from shared.store.tenancy import TenantContainer
from shared.telemetry import series as series_module
from shared.telemetry.devices import DeviceUpsert
from shared.telemetry.ingest import Ingestor, deliver
from shared.telemetry.uplinks import parse_ttn
from shared.tenants.model import TenantCreate
from tests.support.uplinks import encrypt, ttn_uplink

TENANT = "sandefjord"
EM300 = "24e124136b502217"
KEY = "2b7e151628aed2a6abf7158809cf4f3c"
DEV_ADDR = "260B1A2C"
PAYLOAD = bytes.fromhex("01755c03679cff04687b")  # 3 readings: battery, temperature, humidity


def _uplink(fcnt: int, received: str):
    frm = encrypt(PAYLOAD, KEY, DEV_ADDR, fcnt)
    message = ttn_uplink(EM300, DEV_ADDR, fcnt, frm, f"2026-11-22T{received}:00Z")
    return deliver("ttn", orjson.dumps(message), parse_ttn)


@pytest.fixture
def ingestor(platform) -> Ingestor:
    platform.tenants.create(TenantCreate(id=TENANT, name="Sandefjord", kommunenummer="3907"))
    platform.ingestor.registry(TENANT).put(EM300, DeviceUpsert.model_validate(
        {"model": "milesight-em300-th", "name": "Skolegården", "appSKey": KEY}))
    return platform.ingestor


def _ingest(ingestor: Ingestor, *uplinks) -> int:
    result = ingestor.ingest(TENANT, list(uplinks))
    assert not result.rejections
    return result.readings


def _times(ingestor: Ingestor) -> list[str]:
    """Every stored reading's time, once per reading."""
    readings, token = ingestor.series(TENANT).read(
        EM300, datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC),
        quantity=None, limit=1000, continuation=None)
    assert token is None
    return [f"{r.time:%H:%M}" for r in readings]


def _bucket(platform, hour: str) -> dict | None:
    series = TenantContainer(platform.store.container("series"), TENANT)
    return series.read(f"{EM300}|2026-11-22T{hour}", EM300, "2026-11")


def _open_hour(platform) -> dict:
    state = TenantContainer(platform.store.container("latest"), TENANT).read(EM300)
    assert state is not None
    return {"bucket": state["openBucket"], **state["open"]}


def test_the_newest_hour_is_stored_with_the_state_until_a_newer_hour_seals_it(
    ingestor, platform
):
    assert _ingest(ingestor, _uplink(1, "10:05")) == 3
    assert _ingest(ingestor, _uplink(2, "10:15")) == 3
    assert _bucket(platform, "10") is None
    assert _open_hour(platform)["bucket"] == "2026-11-22T10"
    assert _times(ingestor) == ["10:05"] * 3 + ["10:15"] * 3

    assert _ingest(ingestor, _uplink(3, "11:05")) == 3
    sealed = _bucket(platform, "10")
    assert sealed is not None and len(sealed["up"]) == 2
    assert all(len(series["v"]) == 2 for series in sealed["q"].values())
    assert sealed["ttl"] == platform.tenants.get(TENANT).retention_days * 86400
    assert _open_hour(platform)["bucket"] == "2026-11-22T11"
    assert _times(ingestor) == ["10:05"] * 3 + ["10:15"] * 3 + ["11:05"] * 3


def test_an_uplink_for_an_older_hour_goes_to_that_hours_bucket(ingestor, platform):
    _ingest(ingestor, _uplink(1, "10:05"), _uplink(2, "11:05"))  # one batch, two hours
    assert len(_bucket(platform, "10")["up"]) == 1
    assert _open_hour(platform)["bucket"] == "2026-11-22T11"

    assert _ingest(ingestor, _uplink(3, "10:55")) == 3  # delivered late
    assert len(_bucket(platform, "10")["up"]) == 2
    assert list(_open_hour(platform)["up"]) == [str(_ms("11:05"))]
    assert _times(ingestor) == ["10:05"] * 3 + ["10:55"] * 3 + ["11:05"] * 3


def test_a_state_write_that_fails_after_sealing_is_retried_without_doubling(
    ingestor, platform, monkeypatch
):
    _ingest(ingestor, _uplink(1, "10:05"))
    real_write_all = TenantContainer.write_all

    def unavailable_for_states(self, writes, *suffix):
        if self._container.spec.name == "latest":
            raise Unavailable("Cosmos DB answered 503")
        return real_write_all(self, writes, *suffix)

    monkeypatch.setattr(TenantContainer, "write_all", unavailable_for_states)
    with pytest.raises(Unavailable):
        ingestor.ingest(TENANT, [_uplink(2, "11:05")])
    monkeypatch.undo()

    # Hour 10 is sealed and still the state's open hour: reads show its readings once.
    assert _bucket(platform, "10") is not None
    assert _open_hour(platform)["bucket"] == "2026-11-22T10"
    assert _times(ingestor) == ["10:05"] * 3

    assert _ingest(ingestor, _uplink(2, "11:05")) == 3  # the trigger's retry
    assert _open_hour(platform)["bucket"] == "2026-11-22T11"
    assert _times(ingestor) == ["10:05"] * 3 + ["11:05"] * 3


def test_two_consumers_writing_one_device_keep_every_hour(ingestor, platform):
    """After an Event Hubs partition moved, a consumer with a stale cache writes the state."""
    other = Ingestor(platform.store, platform.keys, platform.bus, platform.tenants)
    _ingest(ingestor, _uplink(1, "10:05"))
    _ingest(other, _uplink(2, "11:05"))  # seals hour 10, opens hour 11
    # The first consumer still believes hour 10 is open; its state write meets hour 11.
    _ingest(ingestor, _uplink(3, "10:40"))
    assert _open_hour(platform)["bucket"] == "2026-11-22T11"
    assert len(_bucket(platform, "10")["up"]) == 2
    _ingest(ingestor, _uplink(4, "11:25"))  # both consumers' readings of hour 11 stay open
    assert sorted(_open_hour(platform)["up"]) == [str(_ms("11:05")), str(_ms("11:25"))]
    assert _times(ingestor) == (
        ["10:05"] * 3 + ["10:40"] * 3 + ["11:05"] * 3 + ["11:25"] * 3
    )


def _ms(clock: str) -> int:
    hour, minute = map(int, clock.split(":"))
    return int(datetime(2026, 11, 22, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_a_consumer_moving_on_seals_the_open_hour_another_consumer_added_to(
    ingestor, platform
):
    other = Ingestor(platform.store, platform.keys, platform.bus, platform.tenants)
    _ingest(ingestor, _uplink(1, "10:05"))
    _ingest(other, _uplink(2, "10:20"))  # adds to hour 10, which the first consumer cached
    _ingest(ingestor, _uplink(3, "11:05"))  # seals what it knows of hour 10, then meets 10:20
    assert len(_bucket(platform, "10")["up"]) == 2
    assert _open_hour(platform)["bucket"] == "2026-11-22T11"
    assert _times(ingestor) == ["10:05"] * 3 + ["10:20"] * 3 + ["11:05"] * 3


def test_the_hourly_sweep_seals_the_open_hours_of_quiet_devices(ingestor, platform):
    _ingest(ingestor, _uplink(1, "10:05"))
    assert ingestor.seal_quiet_hours(_at("11:59")) == 0  # hour 11 is not over yet
    assert _bucket(platform, "10") is None

    assert ingestor.seal_quiet_hours(_at("12:17")) == 1  # quiet for all of hour 11
    sealed = _bucket(platform, "10")
    assert sealed is not None and list(sealed["up"]) == [str(_ms("10:05"))]
    state = TenantContainer(platform.store.container("latest"), TENANT).read(EM300)
    assert state is not None and "open" not in state and "openBucket" not in state
    assert state["values"]["temperature"]["value"] == -10.0  # the latest state stays
    assert _times(ingestor) == ["10:05"] * 3
    assert ingestor.seal_quiet_hours(_at("13:17")) == 0

    # The device wakes up with a late uplink for the sealed hour, then a new hour.
    assert _ingest(ingestor, _uplink(2, "10:30")) == 3
    assert _ingest(ingestor, _uplink(3, "13:05")) == 3
    assert len(_bucket(platform, "10")["up"]) == 2
    assert _times(ingestor) == ["10:05"] * 3 + ["10:30"] * 3 + ["13:05"] * 3


def _at(clock: str) -> datetime:
    return datetime.fromtimestamp(_ms(clock) / 1000, UTC)


FLEET = [f"24e124136b5022{n:02x}" for n in range(1, 4)]


@pytest.fixture
def fleet(ingestor) -> list[str]:
    """Three more EM300-TH devices."""
    registry = ingestor.registry(TENANT)
    for dev_eui in FLEET:
        registry.put(dev_eui, DeviceUpsert.model_validate(
            {"model": "milesight-em300-th", "name": dev_eui, "appSKey": KEY}))
    return FLEET


def _fleet_batch(devices: list[str], fcnt: int, clock: str):
    """One uplink of each device, received at `clock` (HH:MM) on the test day."""
    return [
        deliver("ttn", orjson.dumps(ttn_uplink(
            dev_eui, DEV_ADDR, fcnt, encrypt(PAYLOAD, KEY, DEV_ADDR, fcnt),
            f"2026-11-22T{clock}:00Z")), parse_ttn)
        for dev_eui in devices
    ]


def _spy_on_state_writes(monkeypatch, before=None) -> list[list[str]]:
    """The ids of each `write_all` to the latest-state container (after calling `before`)."""
    calls: list[list[str]] = []
    real_write_all = TenantContainer.write_all

    def spy(self, writes, *suffix):
        if self._container.spec.name == "latest":
            calls.append(sorted(write.doc["id"] for write in writes))
            if before is not None:
                before()
        return real_write_all(self, writes, *suffix)

    monkeypatch.setattr(TenantContainer, "write_all", spy)
    return calls


def test_a_batchs_states_are_written_together_each_with_its_own_hour(
    ingestor, platform, fleet, monkeypatch
):
    """One `write_all` per batch for the tenant's states (on Cosmos: one request per 100)."""
    state_writes = _spy_on_state_writes(monkeypatch)
    assert ingestor.ingest(TENANT, _fleet_batch(fleet, 1, "10:05")).readings == 9
    redelivered = _fleet_batch(fleet, 2, "10:15") * 2
    assert ingestor.ingest(TENANT, redelivered).readings == 9
    assert state_writes == [fleet, fleet]
    latest = TenantContainer(platform.store.container("latest"), TENANT)
    for dev_eui in fleet:
        state = latest.read(dev_eui)
        assert state is not None and state["session"]["last"] == 2
        assert sorted(state["open"]["up"]) == [str(_ms("10:05")), str(_ms("10:15"))]


def test_the_sweep_seals_quiet_devices_together_and_lets_one_that_woke_up_go_on(
    ingestor, platform, fleet, monkeypatch
):
    """The sweep writes the quiet states in one `write_all`; a device whose uplink arrives
    between the sweep's query and that write keeps its new hour, and its old one is sealed."""
    assert ingestor.ingest(TENANT, _fleet_batch(fleet, 1, "10:05")).readings == 9
    awake = fleet[0]

    def wakes_up() -> None:
        if len(state_writes) == 1:
            assert _ingest(ingestor, *_fleet_batch([awake], 2, "12:20")) == 3

    state_writes = _spy_on_state_writes(monkeypatch, before=wakes_up)
    assert ingestor.seal_quiet_hours(_at("12:17")) == 2
    assert state_writes[0] == fleet  # the sweep's one write (the uplink's follows it)

    series = ingestor.series(TENANT)
    latest = TenantContainer(platform.store.container("latest"), TENANT)
    for dev_eui in fleet:
        state = latest.read(dev_eui)
        assert state is not None
        assert state.get("openBucket") == ("2026-11-22T12" if dev_eui == awake else None)
        readings, _ = series.read(
            dev_eui, _at("00:00"), _at("23:59"), quantity=None, limit=100, continuation=None)
        times = [f"{r.time:%H:%M}" for r in readings]
        assert times == ["10:05"] * 3 + (["12:20"] * 3 if dev_eui == awake else [])
        bucket = TenantContainer(platform.store.container("series"), TENANT).read(
            f"{dev_eui}|2026-11-22T10", dev_eui, "2026-11")
        assert bucket is not None and list(bucket["up"]) == [str(_ms("10:05"))]


def test_states_not_written_are_read_again_together_and_written_again(
    ingestor, platform, fleet, monkeypatch
):
    """Another consumer wrote one device's state between this batch's read and its write:
    that write fails (and on Cosmos rolls back the batch), so the states not written are read
    again and written in one more `write_all`."""
    other = Ingestor(platform.store, platform.keys, platform.bus, platform.tenants)
    assert ingestor.ingest(TENANT, _fleet_batch(fleet, 1, "10:05")).readings == 9
    moved = fleet[0]
    read_states = ingestor._read_states
    spied: list[list[list[str]]] = []

    def then_another_consumer(latest, devices):
        states = read_states(latest, devices)
        monkeypatch.setattr(ingestor, "_read_states", read_states)
        assert _ingest(other, *_fleet_batch([moved], 2, "10:15")) == 3
        spied.append(_spy_on_state_writes(monkeypatch))  # this batch's writes from here
        return states

    monkeypatch.setattr(ingestor, "_read_states", then_another_consumer)
    result = ingestor.ingest(TENANT, _fleet_batch(fleet, 3, "10:25"))
    assert not result.rejections and result.readings == 9
    first, again = spied[0]
    assert first == fleet and moved in again and set(again) <= set(fleet)
    latest = TenantContainer(platform.store.container("latest"), TENANT)
    for dev_eui in fleet:
        state = latest.read(dev_eui)
        assert state is not None
        minutes = ["05", "15", "25"] if dev_eui == moved else ["05", "25"]
        assert sorted(state["open"]["up"]) == [str(_ms(f"10:{m}")) for m in minutes]
        assert state["session"]["last"] == 3


def test_a_state_write_that_fails_leaves_no_half_merged_state_in_the_cache(
    ingestor, platform, monkeypatch
):
    """A merge updates the cached state in place; after a failed write the retry must not
    take that copy for the stored state (it would count the retried readings as stored)."""
    assert _ingest(ingestor, _uplink(1, "10:05")) == 3
    real_write_all = TenantContainer.write_all

    def unavailable(self, writes, *suffix):
        raise Unavailable("Cosmos DB answered 503")

    monkeypatch.setattr(TenantContainer, "write_all", unavailable)
    with pytest.raises(Unavailable):
        ingestor.ingest(TENANT, [_uplink(2, "10:15")])
    monkeypatch.setattr(TenantContainer, "write_all", real_write_all)
    assert _ingest(ingestor, _uplink(2, "10:15")) == 3  # the trigger's retry
    assert _times(ingestor) == ["10:05"] * 3 + ["10:15"] * 3


def test_paging_finds_a_late_hour_older_than_the_sealed_ones(ingestor, platform):
    """A late device-timed reading after the sweep: its hour, older than the hours the sweep
    sealed, goes to its own document (an hour the state does not hold stays closed)."""
    _ingest(ingestor, _uplink(1, "10:05"))
    _ingest(ingestor, _uplink(2, "11:05"))
    assert ingestor.seal_quiet_hours(_at("13:30")) == 1  # hour 11
    history = (_ms("09:50") // 1000).to_bytes(4, "little").hex()
    frm = encrypt(bytes.fromhex("20ce" + history + "9cff7b00"), KEY, DEV_ADDR, 3)
    late = deliver("ttn", orjson.dumps(ttn_uplink(
        EM300, DEV_ADDR, 3, frm, "2026-11-22T13:40:00Z")), parse_ttn)
    assert _ingest(ingestor, late) == 2
    state = TenantContainer(platform.store.container("latest"), TENANT).read(EM300)
    assert "openBucket" not in state

    series, pages, token = ingestor.series(TENANT), [], None
    for _ in range(20):
        page, token = series.read(EM300, _at("00:00"), _at("23:59"), quantity="temperature",
                                  limit=1, continuation=token)
        pages.append([f"{r.time:%H:%M}" for r in page])
        if token is None:
            break
    assert pages == [["09:50"], ["10:05"], ["11:05"]]


def test_the_sweep_goes_on_past_a_tenant_whose_store_fails(ingestor, platform, monkeypatch):
    """One tenant's outage does not leave every tenant after it unsealed for an hour; the run
    still fails, so it shows in the monitoring."""
    platform.tenants.create(TenantCreate(id="andebu", name="Andebu", kommunenummer="3900"))
    _ingest(ingestor, _uplink(1, "10:05"))
    real_series = Ingestor.series

    def failing_first(self, tenant):
        series = real_series(self, tenant)
        if tenant == "andebu":  # listed before sandefjord
            monkeypatch.setattr(series, "seal_stale_hours", _unavailable)
        return series

    def _unavailable(*_):
        raise Unavailable("the store is down")

    monkeypatch.setattr(Ingestor, "series", failing_first)
    with pytest.raises(Unavailable):
        ingestor.seal_quiet_hours(_at("12:17"))
    assert _bucket(platform, "10") is not None  # sandefjord was swept all the same


def test_a_sealed_hour_is_not_kept_in_memory(ingestor, platform):
    """Else every device would add one hour's document to the process each hour, for good."""
    for fcnt, clock in enumerate(("10:05", "11:05", "12:05"), 1):
        _ingest(ingestor, _uplink(fcnt, clock))
    assert _bucket(platform, "10") is not None and _bucket(platform, "11") is not None
    cached_hours = [key for key, _ in ingestor._buckets._entries.items() if "|" in key[1]]
    assert cached_hours == []


def _counting_queries(platform, monkeypatch) -> list[int]:
    """How many hour documents each query of the series container returned, as they run."""
    series = platform.store.container("series")
    real_query = series.query
    fetched: list[int] = []

    def counted(*args, **kwargs):
        page = real_query(*args, **kwargs)
        fetched.append(len(page.items))
        return page

    monkeypatch.setattr(series, "query", counted)
    return fetched


DAY = (datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))


def test_each_query_for_hours_asks_for_twice_as_many_as_the_last(
    ingestor, platform, monkeypatch
):
    """2, then 4, then 8...: a page of many hours costs a few queries, not one per 2 hours."""
    for fcnt, hour in enumerate(range(10, 20), 1):  # 10-18 sealed, 19 the open hour
        _ingest(ingestor, _uplink(fcnt, f"{hour}:05"))
    fetched = _counting_queries(platform, monkeypatch)
    readings, token = ingestor.series(TENANT).read(
        EM300, *DAY, quantity=None, limit=500, continuation=None)
    assert fetched == [2, 4, 3] and token is None
    assert len(readings) == 10 * 3


def test_hours_cut_short_by_the_page_budget_stay_in_time_order(
    ingestor, platform, monkeypatch
):
    """The open hour, newer than every hour the budget let the page read, waits for the next."""
    for fcnt, hour in enumerate(range(10, 20), 1):
        _ingest(ingestor, _uplink(fcnt, f"{hour}:05"))
    monkeypatch.setattr(series_module, "MAX_PAGE_HOURS", 4)
    hours = ingestor.series(TENANT)._buckets(EM300, *DAY, None)
    assert [doc["bucket"][-2:] for doc in hours] == ["10", "11", "12", "13"]


def test_a_small_page_reads_few_hour_documents(ingestor, platform, monkeypatch):
    """An hour may hold 10,000 readings (megabytes): a page of a few must not read fifty."""
    for fcnt, hour in enumerate(range(10, 16), 1):
        _ingest(ingestor, _uplink(fcnt, f"{hour}:05"))
    fetched = _counting_queries(platform, monkeypatch)
    readings, token = ingestor.series(TENANT).read(
        EM300, *DAY, quantity=None, limit=2, continuation=None)
    assert [f"{r.time:%H:%M}" for r in readings] == ["10:05", "10:05"] and token
    assert sum(fetched) <= 2
    monkeypatch.undo()
    assert _times(ingestor) == [f"{hour}:05" for hour in range(10, 16) for _ in range(3)]
