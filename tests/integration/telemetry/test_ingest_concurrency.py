"""Two Functions hosts (or two request threads) on one device: nothing lost, nothing revived.

Each host keeps its own caches of device states; the store's ETags are the only truth they
share. A second host is built as the platform builds one: same store, vault and bus.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import orjson
import pytest

from shared.bus import BusError
from shared.keys import CachedKeyStore, KeyStoreError
from shared.store import PreconditionFailed, Query
from shared.store.tenancy import TenantContainer
from shared.telemetry.devices import DeviceUpsert
from shared.telemetry.ingest import Delivery, Ingestor, deliver
from shared.telemetry.uplinks import parse_chirpstack, parse_ttn
from shared.tenants.model import TenantCreate
from tests.support.uplinks import chirpstack_up, encrypt, ttn_uplink

TENANT = "sandefjord"
EM300 = "24e124136b502217"
KEY = "2b7e151628aed2a6abf7158809cf4f3c"
PAYLOAD = bytes.fromhex("01755c03679cff04687b")  # 3 readings
DEV_ADDR = "260B1A2C"


def up(fcnt: int, minute: int, hour: int = 10, payload: bytes = PAYLOAD) -> Delivery:
    frm = encrypt(payload, KEY, DEV_ADDR, fcnt)
    message = ttn_uplink(EM300, DEV_ADDR, fcnt, frm, f"2026-11-22T{hour:02d}:{minute:02d}:00Z")
    return deliver("ttn", orjson.dumps(message), parse_ttn)


def register(host: Ingestor) -> None:
    host.registry(TENANT).put(EM300, DeviceUpsert.model_validate(
        {"model": "milesight-em300-th", "name": "Skolegården", "appSKey": KEY}))


@pytest.fixture
def host_a(platform) -> Ingestor:
    platform.tenants.create(TenantCreate(id=TENANT, name="Sandefjord", kommunenummer="3907"))
    register(platform.ingestor)
    return platform.ingestor


@pytest.fixture
def host_b(platform, host_a) -> Ingestor:
    return Ingestor(platform.store, CachedKeyStore(platform.keys._inner), platform.bus,
                    platform.tenants)


def stored_times(host: Ingestor) -> list[str]:
    day = datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
    readings, _ = host.series(TENANT).read(EM300, *day, None, 10_000, None)
    return sorted(reading.time.strftime("%H:%M") for reading in readings)


def state(platform):
    return TenantContainer(platform.store.container("latest"), TENANT).read(EM300)


def test_a_session_reset_on_another_host_reaches_the_ingesting_host(host_a, host_b):
    assert host_a.ingest(TENANT, [up(f, f % 60, 10 + f // 60) for f in range(1, 101)]).accepted
    host_b.reset_session(TENANT, EM300)  # the operator's DELETE .../session, served by B
    readings = bytes.fromhex("01755a03679cff04687b")  # new frames 1 and 2 (battery 90 %)
    restarted = host_a.ingest(TENANT, [up(1, 30, 14, readings), up(2, 40, 14, readings)])
    assert [r.reason for r in restarted.rejections] == []
    assert restarted.accepted == 2


def test_a_reset_while_a_batch_loads_the_state_is_not_undone(host_a, platform, monkeypatch):
    host_a.ingest(TENANT, [up(f, f % 60, 10 + f // 60) for f in range(1, 101)])
    latest = platform.store.container("latest")
    real_read = latest.read

    def read(partition, id):
        doc = real_read(partition, id)
        monkeypatch.setattr(latest, "read", real_read)
        host_a.reset_session(TENANT, EM300)  # an HTTP thread resets it right after the read
        return doc

    monkeypatch.setattr(latest, "read", read)
    host_a.ingest(TENANT, [up(101, 50, 11)])
    assert state(platform)["session"] is None  # the reset stands
    assert host_a.ingest(TENANT, [up(1, 0, 14)]).rejections == []


def test_a_device_deleted_on_another_host_is_not_revived_and_its_successor_starts_clean(
    host_a, host_b, platform
):
    host_a.ingest(TENANT, [up(f, f, 10) for f in range(1, 51)])
    host_b.delete_device(TENANT, EM300)
    host_a.ingest(TENANT, [up(51, 0, 11)])  # A still knows the device (its cache, up to 60 s)
    assert state(platform) is None
    # Registered again, its counter from 1 (a key rotated on B reaches A's key cache within
    # its five minutes; the session must not wait at all).
    register(host_b)
    successor = bytes.fromhex("01755a03679cff04687b")  # its own readings (battery 90 %)
    replaced = host_a.ingest(TENANT, [up(1, 0, 12, successor), up(2, 1, 12, successor)])
    assert [r.reason for r in replaced.rejections] == []
    assert replaced.accepted == 2


def test_a_reading_committed_while_another_request_opens_the_next_hour_is_kept(
    host_a, platform
):
    """One host, two request threads: FCnt 6 opens hour 11 (sealing hour 10) and waits in
    publish while FCnt 5 (10:59) is committed into hour 10; FCnt 6's commit must seal that."""
    host_a.ingest(TENANT, [up(f, 50 + f, 10) for f in range(1, 5)])
    parked, release = threading.Event(), threading.Event()

    def slow_consumer(events):
        if any(e["time"].startswith("2026-11-22T11") for e in events):
            parked.set()
            release.wait(10)

    platform.bus.subscribe("observations", slow_consumer)
    opening = threading.Thread(target=host_a.ingest, args=(TENANT, [up(6, 0, 11)]))
    opening.start()
    assert parked.wait(10)
    host_a.ingest(TENANT, [up(5, 59, 10)])
    release.set()
    opening.join()
    assert stored_times(host_a) == sorted(
        [f"10:{m}" for m in (51, 52, 53, 54, 59)] * 3 + ["11:00"] * 3
    )


def test_two_hosts_on_overlapping_batches_at_once_store_every_reading_once(
    host_a, host_b, platform
):
    frames = [up(f, (f * 7) % 60, 8 + f // 9) for f in range(1, 61)]  # ~7 frames an hour

    def run(host: Ingestor, step: int, errors: list[BaseException]) -> None:
        try:
            for start in range(0, len(frames), step):  # each batch repeats the last frame
                batch = frames[max(0, start - 1) : start + step]
                for attempt in range(5):  # as the trigger retries a batch that lost a race
                    try:
                        host.ingest(TENANT, batch)
                        break
                    except PreconditionFailed:
                        if attempt == 4:
                            raise
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    errors: list[BaseException] = []
    threads = [threading.Thread(target=run, args=(h, s, errors))
               for h, s in ((host_a, 5), (host_b, 7))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(stored_times(host_a)) == 60 * 3
    assert state(platform)["session"]["last"] == 60
    quarantine = TenantContainer(platform.store.container("quarantine"), TENANT)
    assert quarantine.query(Query()).items == []


def test_a_key_store_outage_fails_the_batch_for_a_retry_rather_than_quarantining(
    host_a, platform, monkeypatch
):
    def down(tenant, name, version=""):
        raise KeyStoreError("Key Vault: ServiceResponseError")

    monkeypatch.setattr(platform.keys, "get", down)
    with pytest.raises(KeyStoreError):
        host_a.ingest(TENANT, [up(1, 1)])
    monkeypatch.undo()
    assert host_a.ingest(TENANT, [up(1, 1)]).accepted == 1


def test_a_write_never_changes_a_document_other_threads_hold(host_a, platform):
    """Merges work copy-on-write on the cached documents they are given: a thread still
    reading a state or bucket (a batch planned on it) must see it as it was."""
    host_a.ingest(TENANT, [up(1, 1, 9), up(2, 1), up(3, 2)])  # hour 9 sealed, 10 open
    partition = TenantContainer(platform.store.container("latest"), TENANT).partition()
    held = host_a._buckets.get((partition, EM300))
    bucket = host_a._buckets.get((f"{TENANT}|{EM300}|2026-11", f"{EM300}|2026-11-22T09"))
    assert held["open"]["q"] and bucket["q"]
    snapshot = orjson.dumps([held, bucket])
    host_a.ingest(TENANT, [up(4, 3), up(5, 4)])  # the open hour grows
    host_a.ingest(TENANT, [up(6, 30, 9)])  # a late frame goes to hour 9's bucket
    host_a.ingest(TENANT, [up(7, 0, 11)])  # the next hour: hour 10 is sealed
    assert orjson.dumps([held, bucket]) == snapshot


def _fail_publish(monkeypatch, platform) -> None:
    def failing(topic, events):
        raise BusError("Event Hubs timed out")

    monkeypatch.setattr(platform.bus, "publish", failing)


def _event_ids(platform) -> set[str]:
    return {e["id"] for e in platform.bus.recent("observations")}


def test_a_reset_devices_frames_are_published_when_the_first_try_failed(
    host_a, platform, monkeypatch
):
    """The outbox knows frames by FCnt and payload: a reset device counts from 1 again, and
    this process published an FCnt 1 before; the new one must not pass for it."""
    host_a.ingest(TENANT, [up(f, f) for f in (1, 2, 3)])
    before = _event_ids(platform)
    host_a.reset_session(TENANT, EM300)
    restarted = bytes.fromhex("01755a03679cff04687b")
    batch = [up(f, 30 + f, payload=restarted) for f in (1, 2)]
    _fail_publish(monkeypatch, platform)
    with pytest.raises(BusError):
        host_a.ingest(TENANT, batch)
    monkeypatch.undo()
    assert host_a.ingest(TENANT, batch).duplicates == 2  # the trigger's retry
    assert len(_event_ids(platform) - before) == 2


def test_a_retried_batch_larger_than_the_session_window_is_published_whole(
    host_a, platform, monkeypatch
):
    batch = [up(f, f % 60, 10 + f // 60) for f in range(1, 101)]  # 100 frames, window 64
    _fail_publish(monkeypatch, platform)
    with pytest.raises(BusError):
        host_a.ingest(TENANT, batch)
    monkeypatch.undo()
    retried = host_a.ingest(TENANT, batch)
    assert (retried.duplicates, retried.rejections) == (100, [])
    assert len(_event_ids(platform)) == 100
    host_a.ingest(TENANT, [up(101, 50, 11)])  # published: the outbox and window shrink again
    session = state(platform)["session"]
    assert list(session["pending"]) == ["101"] and len(session["seen"]) == 64


def test_a_device_registered_again_through_another_host_is_stored_by_this_one(
    host_a, host_b, platform
):
    host_a.ingest(TENANT, [up(f, f) for f in (1, 2, 3)])
    host_b.delete_device(TENANT, EM300)
    register(host_b)
    assert host_a.ingest(TENANT, [up(4, 10), up(5, 11)]).accepted == 2
    assert host_a.ingest(TENANT, [up(6, 12)]).accepted == 1
    assert state(platform)["session"]["last"] == 6
    assert len(stored_times(host_a)) == 6 * 3


def test_one_forged_message_with_another_devaddr_opens_no_door_for_replays(host_a, platform):
    host_a.ingest(TENANT, [up(f, f) for f in (1, 2, 3)])
    forged = ttn_uplink(EM300, "DEADBEEF", 4, b"\x00" * 10, "2026-11-22T10:05:00Z")
    refused = host_a.ingest(TENANT, [deliver("ttn", orjson.dumps(forged), parse_ttn)])
    assert [r.reason for r in refused.rejections] == ["devaddr_changed"]
    replayed = host_a.ingest(TENANT, [up(2, 40)])  # a captured frame, received "later"
    assert (replayed.accepted, replayed.duplicates) == (0, 1)
    assert state(platform)["session"]["devAddr"] == 0x260B1A2C


def test_a_host_that_wrote_a_device_last_long_ago_still_refuses_a_replayed_frame(
    host_a, host_b, platform
):
    """Webhooks reach any instance: B wrote the device's state last at FCnt 3, A has moved it
    on to 203 since. A captured FCnt 4 sent to B is a regression, not a new reading."""
    host_b.ingest(TENANT, [up(f, f) for f in (1, 2, 3)])
    for start in range(4, 204, 50):
        host_a.ingest(TENANT, [up(f, f % 60, 11 + f // 60) for f in range(start, start + 50)])
    replayed = host_b.ingest(TENANT, [up(4, 30, 20)])
    assert [r.reason for r in replayed.rejections] == ["fcnt_regressed"]
    assert state(platform)["time"] < "2026-11-22T20"


def test_a_frame_from_two_network_servers_on_two_hosts_is_published_once(host_a, host_b,
                                                                          platform):
    frm = encrypt(PAYLOAD, KEY, DEV_ADDR, 1)
    ttn = ttn_uplink(EM300, DEV_ADDR, 1, frm, "2026-11-22T10:00:00.100Z")
    chirpstack = chirpstack_up(EM300, DEV_ADDR, 1, frm, "2026-11-22T10:00:00.300Z", f_port=85)
    assert host_a.ingest(TENANT, [deliver("ttn", orjson.dumps(ttn), parse_ttn)]).accepted == 1
    second = host_b.ingest(
        TENANT, [deliver("chirpstack", orjson.dumps(chirpstack), parse_chirpstack, "up")])
    assert second.duplicates == 1
    assert len(platform.bus.recent("observations")) == 1


def test_the_outbox_lets_go_of_frames_once_a_retry_would_have_come(
    host_a, platform, monkeypatch
):
    """No host clears another's outbox: its entries expire, so frames published by a host
    that has gone are neither kept forever nor published again by every later copy."""
    from shared.telemetry import ingest

    clock = [1_795_000_000.0]
    monkeypatch.setattr(ingest.time, "time", lambda: clock[0])
    for fcnt in (1, 2, 3):  # each frame through a host that is recycled right after
        fresh = Ingestor(platform.store, CachedKeyStore(platform.keys._inner), platform.bus,
                         platform.tenants)
        assert fresh.ingest(TENANT, [up(fcnt, fcnt)]).accepted == 1
    clock[0] += ingest.OUTBOX_HORIZON_S + 1
    host_a.ingest(TENANT, [up(4, 4)])
    assert list(state(platform)["session"]["pending"]) == ["4"]
    published = len(platform.bus.recent("observations"))
    assert host_a.ingest(TENANT, [up(2, 2)]).duplicates == 1
    assert len(platform.bus.recent("observations")) == published


def test_readings_for_an_hour_already_stored_count_toward_its_limit(host_a, monkeypatch):
    """A late or backlogged hour goes to its own document: the hourly limit holds there too,
    or a device behind in time could grow one past Cosmos DB's 2 MB."""
    from shared.telemetry import ingest

    monkeypatch.setattr(ingest, "MAX_HOUR_READINGS", 6)
    assert host_a.ingest(TENANT, [up(1, 0, 11)]).accepted == 1  # hour 11 is the open hour
    answers = [host_a.ingest(TENANT, [up(1 + n, n, 10)]) for n in range(1, 5)]
    assert [a.accepted for a in answers] == [1, 1, 0, 0]  # 3 readings each: 6 fit hour 10
    assert {r.reason for a in answers for r in a.rejections} == {"too_large"}


def test_a_batch_judged_again_leaves_no_quarantine_record_behind(host_a, host_b, platform,
                                                                 monkeypatch):
    host_a.ingest(TENANT, [up(f, f) for f in (1, 2, 3)])
    latest = platform.store.container("latest")
    real_read = latest.read

    def read(partition, id):
        doc = real_read(partition, id)
        monkeypatch.setattr(latest, "read", real_read)
        host_b.delete_device(TENANT, EM300)  # replaced through B, right after A's read
        register(host_b)
        return doc

    monkeypatch.setattr(latest, "read", read)
    successor = bytes.fromhex("01755a03679cff04687b")
    result = host_a.ingest(TENANT, [up(2, 20, payload=successor), up(4, 21, payload=successor)])
    assert (result.accepted, result.rejections) == (2, [])
    assert host_a.quarantine(TENANT).counts() == {}


def test_a_key_the_key_store_refuses_sets_its_messages_aside_and_the_batch_goes_on(
    host_a, platform, monkeypatch
):
    """A disabled secret (Key Vault's 403) will not come back by retrying: the batch, with
    every other device's readings, must not wait for someone to enable it."""
    from shared.keys import KeyRefused

    def refused(tenant, name):
        raise KeyRefused(f"Key Vault refuses key {name} (403)")

    platform.keys._cache.forget((TENANT, f"device-{EM300}-appskey"))
    monkeypatch.setattr(platform.keys._inner, "get", refused)
    result = host_a.ingest(TENANT, [up(1, 1)])
    assert [(r.reason, "is the key disabled?" in r.detail) for r in result.rejections] == [
        ("no_key", True)
    ]


def test_a_state_written_by_an_earlier_version_is_read_without_its_outbox(host_a, platform):
    """The outbox was a list of FCnts before it knew commit times and sources: a state from
    then must not stop the device's ingest."""
    host_a.ingest(TENANT, [up(1, 1)])
    latest = TenantContainer(platform.store.container("latest"), TENANT)
    doc = latest.read(EM300)
    etag = doc.pop("_etag")
    doc["session"]["pending"] = ["1"]
    latest.replace(doc, etag=etag)
    assert host_a.ingest(TENANT, [up(2, 2)]).accepted == 1
    assert list(state(platform)["session"]["pending"]) == ["2"]


def test_frames_stored_during_an_event_hubs_outage_are_published_by_the_next_host(
    host_a, platform, monkeypatch
):
    """Event Hubs down for 20 minutes, A retrying all along, then the partition moves to B."""
    from shared.telemetry import ingest

    clock = [1_795_000_000.0]
    monkeypatch.setattr(ingest.time, "time", lambda: clock[0])
    batch = [up(1, 1), up(2, 2)]
    real_publish = platform.bus.publish
    _fail_publish(monkeypatch, platform)
    for _ in range(5):
        with pytest.raises(BusError):
            host_a.ingest(TENANT, batch)
        clock[0] += 240
    monkeypatch.setattr(platform.bus, "publish", real_publish)
    host_b = Ingestor(platform.store, CachedKeyStore(platform.keys._inner), platform.bus,
                      platform.tenants)
    assert host_b.ingest(TENANT, batch).duplicates == 2
    assert len(_event_ids(platform)) == 2


def test_a_device_confirmed_in_the_registry_is_judged_on_its_registration_as_it_is_now(
    host_a, host_b, platform
):
    """A registered the device under the wrong model; B corrected it. A's first uplink, with
    no state yet, reads the registry: the correction counts at once."""
    from shared.telemetry.devices import DeviceUpsert

    host_a.registry(TENANT).put(EM300, DeviceUpsert.model_validate(
        {"model": "elsys-ers", "name": "wrong", "appSKey": KEY}))
    host_a.registry(TENANT).lookup([EM300])  # cached on A with the wrong model
    register(host_b)  # milesight-em300-th
    assert host_a.ingest(TENANT, [up(1, 1)]).accepted == 1


def test_an_hour_the_sweep_sealed_is_not_opened_again_past_its_limit(host_a, monkeypatch):
    """After the sweep sealed hour 10, late frames for it go to its document, where the
    hourly limit counts what it holds."""
    from shared.telemetry import ingest

    monkeypatch.setattr(ingest, "MAX_HOUR_READINGS", 9)
    assert host_a.ingest(TENANT, [up(1, 1), up(2, 2)]).accepted == 2  # 6 readings in hour 10
    assert host_a.seal_quiet_hours(datetime(2026, 11, 22, 13, tzinfo=UTC)) == 1
    assert host_a.ingest(TENANT, [up(3, 3)]).accepted == 1  # 9: fits
    refused = host_a.ingest(TENANT, [up(4, 4)])  # 12 would not
    assert [r.reason for r in refused.rejections] == ["too_large"]
    assert len(stored_times(host_a)) == 9
    assert host_a.ingest(TENANT, [up(5, 0, 11)]).accepted == 1  # a new hour opens as before


def test_readings_another_host_stores_while_a_device_is_deleted_stay_in_its_history(
    host_a, host_b, monkeypatch
):
    """DELETE seals the device's open hour, then deletes its state: readings B committed to
    that state in between are sealed as well, not deleted with it (B answered 202)."""
    from shared.telemetry.series import TimeSeries

    host_a.ingest(TENANT, [up(1, 5)])
    real_seal = TimeSeries.seal
    during = []

    def seal_while_b_ingests(self, *args):
        if not during:
            during.append(host_b.ingest(TENANT, [up(2, 15)]))
        return real_seal(self, *args)

    monkeypatch.setattr(TimeSeries, "seal", seal_while_b_ingests)
    host_a.delete_device(TENANT, EM300)
    assert during[0].accepted == 1
    assert stored_times(host_a) == ["10:05"] * 3 + ["10:15"] * 3


NEW_KEY = "000102030405060708090a0b0c0d0e0f"


def registration(**fields) -> DeviceUpsert:
    return DeviceUpsert.model_validate(
        {"model": "milesight-em300-th", "name": "Skolegården", **fields}
    )


def test_a_key_rotated_through_another_host_is_used_at_once(host_a, host_b):
    """Webhooks spread over instances: the instance that did not serve the PUT must not keep
    decrypting with the old key for the key cache's lifetime."""
    assert host_b.ingest(TENANT, [up(1, 1)]).accepted == 1  # B holds the device and its key
    host_a.put_device(TENANT, EM300, registration(appSKey=NEW_KEY))

    def rotated(fcnt: int, minute: int) -> Delivery:
        frm = encrypt(PAYLOAD, NEW_KEY, DEV_ADDR, fcnt)
        message = ttn_uplink(EM300, DEV_ADDR, fcnt, frm, f"2026-11-22T10:{minute:02d}:00Z")
        return deliver("ttn", orjson.dumps(message), parse_ttn)

    result = host_b.ingest(TENANT, [rotated(2, 2)])
    assert (result.accepted, result.rejections) == (1, [])
    host_a.delete_device(TENANT, EM300)  # and registered again, with the first key
    host_a.put_device(TENANT, EM300, registration(appSKey=KEY))
    assert host_b.ingest(TENANT, [up(1, 5)]).accepted == 1


def test_settings_changed_through_another_host_are_used_and_kept(host_a, host_b, platform):
    """B must neither decode with its cached settings nor write them back over the state."""
    assert host_b.ingest(TENANT, [up(1, 1)]).accepted == 1
    place = {"medium": "water", "area": "goksjo", "location": {"lat": 59.17, "lon": 10.17}}
    host_a.put_device(TENANT, EM300, registration(**place))
    assert host_b.ingest(TENANT, [up(2, 2)]).accepted == 1
    stored = state(platform)
    assert {k: stored[k] for k in place} == place
    assert stored["values"]["temperature"]["medium"] == "air"  # its own sensor: ambient air
    events = platform.bus.recent("observations")
    assert events[-1]["data"]["area"] == "goksjo"


def test_a_device_registered_through_another_host_is_known_at_once(host_a, host_b):
    """B saw it unknown (and remembered that); A registers it: B must not refuse it still."""
    other = "24e124136b502218"

    def from_other(fcnt: int) -> Delivery:
        frm = encrypt(PAYLOAD, KEY, DEV_ADDR, fcnt)
        message = ttn_uplink(other, DEV_ADDR, fcnt, frm, f"2026-11-22T11:{fcnt:02d}:00Z")
        return deliver("ttn", orjson.dumps(message), parse_ttn)

    refused = host_b.ingest(TENANT, [from_other(1)])
    assert [r.reason for r in refused.rejections] == ["unknown_device"]
    host_a.put_device(TENANT, other, registration(appSKey=KEY))
    assert host_b.ingest(TENANT, [from_other(2)]).accepted == 1


def test_an_envelope_sent_again_after_a_failed_publish_keeps_its_first_time(
    host_a, host_b, platform, monkeypatch
):
    """An IP device retries the same envelope later (its first answer was a 503): the event
    published from the outbox is the stored reading's, with its time and id."""
    from datetime import timedelta

    from shared.telemetry.envelope import seal_envelope
    from shared.telemetry.ingest import deliver_from_device

    sensor, aes = "0004a30b001c2b3d", bytes(range(32))
    host_a.put_device(TENANT, sensor, DeviceUpsert.model_validate(
        {"model": "json", "name": "P", "aesKey": aes.hex()}
    ))
    body = orjson.dumps(seal_envelope(b'{"temperature": 4.5}', aes, TENANT, sensor, 7))
    first = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    _fail_publish(monkeypatch, platform)
    with pytest.raises(BusError):
        host_a.ingest(TENANT, [deliver_from_device("http", body, sensor, first)])
    monkeypatch.undo()
    retried = host_b.ingest(
        TENANT, [deliver_from_device("http", body, sensor, first + timedelta(seconds=30))]
    )
    assert (retried.accepted, retried.duplicates) == (0, 1)
    [published] = [e for e in platform.bus.recent("observations") if e["subject"] == sensor]
    assert published["time"] == "2026-11-22T10:00:00Z"
    stored = host_a.ingest(TENANT, [deliver_from_device("http", body, sensor, first)])
    assert stored.duplicates == 1


def _replayed(delivery: Delivery) -> Delivery:
    """As `replay` hands a record of a device registered late back to ingest."""
    import dataclasses

    return dataclasses.replace(delivery, replay_of="unknown_device")


def test_a_second_copy_of_a_frame_replayed_from_before_the_window_is_not_published_again(
    host_a, platform
):
    """The host that published it knows so (another host cannot: it publishes a same-source
    copy again, under the same event id, as for any frame in the outbox)."""
    host_a.ingest(TENANT, [up(100, 40)])
    old = _replayed(up(5, 5))
    assert host_a.ingest(TENANT, [old]).accepted == 1
    published = len(platform.bus.recent("observations"))
    assert host_a.ingest(TENANT, [old]).duplicates == 1
    assert len(platform.bus.recent("observations")) == published


def test_a_rejoined_device_starts_without_the_old_sessions_replayed_counters(platform):
    """An OTAA device (Smartby holds no key) joins again and counts from 1."""
    platform.tenants.create(TenantCreate(id=TENANT, name="Sandefjord", kommunenummer="3907"))
    host = platform.ingestor
    host.registry(TENANT).put(EM300, DeviceUpsert.model_validate(
        {"model": "milesight-em300-th", "name": "OTAA"}))

    def clear(fcnt: int, minute: int, hour: int, dev_addr: str, payload: bytes = PAYLOAD):
        message = ttn_uplink(EM300, dev_addr, fcnt, payload,
                             f"2026-11-22T{hour:02d}:{minute:02d}:00Z")
        return deliver("ttn", orjson.dumps(message), parse_ttn)

    assert host.ingest(TENANT, [clear(100, 0, 10, DEV_ADDR)]).accepted == 1
    assert host.ingest(TENANT, [_replayed(clear(5, 5, 9, DEV_ADDR))]).accepted == 1
    joined = bytes.fromhex("01755a03679cff04687b")
    frames = [clear(f, 10 + f, 11, "26011111", joined) for f in range(1, 7)]
    result = host.ingest(TENANT, frames)
    assert (result.accepted, result.rejections) == (6, [])


def test_a_replayed_frame_with_an_unset_gateway_clock_is_timed_when_it_first_arrived(
    host_a, platform
):
    """Stored as received when its record was made, not when the operator replayed it."""
    from shared.telemetry.replay import replay

    other = "24e124136b502219"
    frm = encrypt(PAYLOAD, KEY, DEV_ADDR, 1)
    message = chirpstack_up(other, DEV_ADDR, 1, frm, "2000-01-01T00:00:07Z", f_port=85)
    [refused] = host_a.ingest(
        TENANT, [deliver("chirpstack", orjson.dumps(message), parse_chirpstack, "up")]
    ).rejections
    record = host_a.quarantine(TENANT).get(refused.quarantine_id)
    host_a.put_device(TENANT, other, DeviceUpsert.model_validate(
        {"model": "milesight-em300-th", "name": "Late", "appSKey": KEY}))
    later = record.received.timestamp() + 3600

    import time as clock

    real_now = clock.time
    try:
        clock.time = lambda: later  # the operator replays an hour later
        [outcome] = replay(host_a, TENANT, [record], host_a.quarantine(TENANT))
    finally:
        clock.time = real_now
    assert outcome.outcome == "accepted"
    stored = TenantContainer(platform.store.container("latest"), TENANT).read(other)
    first_arrived = record.received.replace(microsecond=record.received.microsecond // 1000 * 1000)
    assert datetime.fromisoformat(stored["time"]) == first_arrived  # to the millisecond


def _during_commit(monkeypatch, action) -> list:
    """Run `action` once, as another thread or host would, while a batch is about to commit
    its devices' states (after judging its frames); returns [what action returned]."""
    import shared.telemetry.ingest as ingest_module

    planned = ingest_module._StateMerge
    done: list = []

    class Interleaved(planned):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            if not done:
                done.append(None)  # first: the action may commit a batch of its own
                done[0] = action()
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_StateMerge", Interleaved)
    return done


BATTERY_90 = bytes.fromhex("01755a03679cff04687b")


def batteries(host: Ingestor) -> list[tuple[str, float]]:
    day = datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
    readings, _ = host.series(TENANT).read(EM300, *day, "battery", 10_000, None)
    return [(reading.time.strftime("%H:%M"), reading.value) for reading in readings]


def test_a_device_deleted_while_its_first_batch_commits_leaves_neither_state_nor_readings(
    host_a, host_b, platform, monkeypatch
):
    """The batch looked the device up before the DELETE: its new state must not outlive the
    device (a ghost in /latest, whose session a new registration would inherit), nor its
    readings, quarantined as unknown_device, stay in the history of the device registered
    again."""
    _during_commit(monkeypatch, lambda: host_b.delete_device(TENANT, EM300))
    result = host_a.ingest(TENANT, [up(1, 5)])
    assert state(platform) is None
    assert result.observations == []  # nor announced
    assert [r.reason for r in result.rejections] == ["unknown_device"]
    monkeypatch.undo()
    register(host_b)
    successor = host_a.ingest(TENANT, [up(1, 7, payload=BATTERY_90)])
    assert [r.reason for r in successor.rejections] == []
    assert successor.accepted == 1
    assert stored_times(host_a) == ["10:07"] * 3


def test_readings_merged_into_a_deleted_devices_first_state_meanwhile_stay_in_its_history(
    host_a, host_b, platform, monkeypatch
):
    """A's first batch created the state after the DELETE; before A removes it, a third host
    (which still knows the device) stores a frame in it and answers 202: that reading stays."""
    from shared.telemetry.devices import app_s_key_name

    keys_c = CachedKeyStore(platform.keys._inner)
    host_c = Ingestor(platform.store, keys_c, platform.bus, platform.tenants)
    device = host_c.registry(TENANT).lookup([EM300])[EM300]  # C knows the device and its key
    keys_c.get(TENANT, app_s_key_name(EM300), device["updated"])
    _during_commit(monkeypatch, lambda: host_b.delete_device(TENANT, EM300))
    latest = platform.store.container("latest")
    real_delete = latest.delete
    meanwhile = []

    def stored_by_c_first(partition, id, *, etag=None):
        if not meanwhile:
            meanwhile.append(host_c.ingest(TENANT, [up(2, 15)]))
        return real_delete(partition, id, etag=etag)

    monkeypatch.setattr(latest, "delete", stored_by_c_first)
    host_a.ingest(TENANT, [up(1, 5)])
    assert meanwhile[0].accepted == 1
    assert state(platform) is None
    assert "10:15" in stored_times(host_a)


def up_via_chirpstack(fcnt: int, minute: int) -> Delivery:
    """`up`'s frame as ChirpStack forwards it too, received 0.4 s after The Things Stack."""
    frm = encrypt(PAYLOAD, KEY, DEV_ADDR, fcnt)
    received = f"2026-11-22T10:{minute:02d}:00.400Z"
    message = chirpstack_up(EM300, DEV_ADDR, fcnt, frm, received, f_port=85)
    return deliver("chirpstack", orjson.dumps(message), parse_chirpstack, "up")


def test_a_frame_from_two_network_servers_around_a_new_registration_is_one_reading(
    host_a, host_b
):
    """The DELETE seals hour 10 with TTN's copy of FCnt 1; ChirpStack's copy arrives after the
    device is registered again and opens the new session's hour 10. Read, and then sealed,
    the hour holds the frame once."""
    assert host_a.ingest(TENANT, [up(1, 0)]).accepted == 1
    host_b.delete_device(TENANT, EM300)
    register(host_b)
    assert host_b.ingest(TENANT, [up_via_chirpstack(1, 0)]).accepted == 1
    assert stored_times(host_a) == ["10:00"] * 3
    assert host_b.seal_quiet_hours(datetime(2026, 11, 22, 13, tzinfo=UTC)) == 1
    assert stored_times(host_a) == ["10:00"] * 3


def test_a_batch_between_the_steps_of_a_delete_leaves_no_state(
    host_a, host_b, platform, monkeypatch
):
    """A batch after DELETE removed the state, before it removed the registration, finds the
    device registered and creates its state anew: the DELETE removes that one too."""
    from shared.telemetry.devices import DeviceRegistry

    host_a.ingest(TENANT, [up(1, 5)])
    unregister = DeviceRegistry.delete
    during = []

    def unregister_after_a_batch(self, dev_eui):
        during.append(host_a.ingest(TENANT, [up(2, 15)]))
        unregister(self, dev_eui)

    monkeypatch.setattr(DeviceRegistry, "delete", unregister_after_a_batch)
    host_b.delete_device(TENANT, EM300)
    assert during[0].accepted == 1
    assert state(platform) is None


def test_two_payloads_under_one_fcnt_at_once_store_only_the_first(
    host_a, host_b, monkeypatch
):
    """A captured frame raced against the real one (or two copies of a counter, cut
    differently): the batch that commits second is judged again, and refused."""
    host_a.ingest(TENANT, [up(1, 5)])
    other = _during_commit(
        monkeypatch, lambda: host_b.ingest(TENANT, [up(2, 15, payload=BATTERY_90)])
    )
    mine = host_a.ingest(TENANT, [up(2, 15)])
    assert other[0].accepted == 1
    assert [r.reason for r in mine.rejections] == ["fcnt_replayed"]
    assert mine.accepted == 0 and mine.observations == []
    assert batteries(host_a) == [("10:05", 92.0), ("10:15", 90.0)]
    monkeypatch.undo()
    again = host_b.ingest(TENANT, [up(2, 15, payload=BATTERY_90)])  # the network retries
    assert again.duplicates == 1 and again.rejections == []


def test_a_registration_changed_while_a_batch_commits_is_not_undone(
    host_a, host_b, platform, monkeypatch
):
    host_a.ingest(TENANT, [up(1, 5)])
    _during_commit(monkeypatch, lambda: host_b.put_device(
        TENANT, EM300, registration(area="nordre")))
    host_a.ingest(TENANT, [up(2, 15)])
    assert state(platform)["area"] == "nordre"


def test_a_registration_racing_a_delete_does_not_claim_the_deleted_keys(
    host_a, host_b, platform, monkeypatch
):
    """A PUT without the key keeps the device's key: not one a DELETE removed meanwhile."""
    devices = platform.store.container("devices")
    real_read = devices.read
    deleted = []

    def read_then_deleted(partition, id):
        doc = real_read(partition, id)
        if not deleted:
            deleted.append(True)  # first: the delete reads the device too
            host_b.delete_device(TENANT, EM300)
        return doc

    monkeypatch.setattr(devices, "read", read_then_deleted)
    device, created = host_a.put_device(TENANT, EM300, registration(name="Ny"))
    assert deleted and created
    assert device.has_app_s_key is False
    assert host_a.registry(TENANT).get(EM300).has_app_s_key is False


def test_a_key_registered_while_a_delete_removes_the_keys_goes_with_the_device(
    host_a, host_b, platform, monkeypatch
):
    """A PUT (a key rotation) between a DELETE's removal of the keys and of the registration:
    the DELETE goes round again, so the new key does not stay in the vault without a device."""
    from shared.keys import TenantKeys
    from shared.telemetry.devices import app_s_key_name

    real_delete = TenantKeys.delete
    rotated = []

    def delete_then_rotated(keys, name):
        real_delete(keys, name)
        if not rotated:
            rotated.append(host_b.put_device(
                TENANT, EM300, registration(appSKey="00112233445566778899aabbccddeeff")))

    monkeypatch.setattr(TenantKeys, "delete", delete_then_rotated)
    host_a.delete_device(TENANT, EM300)
    assert rotated and rotated[0][1] is False  # the rotation was answered "updated"
    assert platform.store.container("devices").read(TENANT, EM300) is None
    assert platform.keys._inner.get(TENANT, app_s_key_name(EM300)) is None


def test_a_registration_is_answered_as_written_though_its_state_stays_busy(
    host_a, host_b, platform, monkeypatch
):
    """Once the registration is written, a state that ingest keeps rewriting is no reason to
    answer 'retry': the device's next frame describes it anew (on this host at once; on one
    that cached the old registration, once its cache lets go of it)."""
    host_a.ingest(TENANT, [up(1, 5)])
    latest = platform.store.container("latest")

    def always_changed(*args, **kwargs):
        raise PreconditionFailed("written meanwhile")

    monkeypatch.setattr(latest, "replace", always_changed)
    device, created = host_b.put_device(TENANT, EM300, registration(area="nordre"))
    assert not created and device.area == "nordre"
    monkeypatch.undo()
    host_b.ingest(TENANT, [up(2, 15)])
    assert state(platform)["area"] == "nordre"


def test_a_frame_from_two_network_servers_at_once_is_stored_and_published_once(
    host_a, host_b, platform, monkeypatch
):
    """Both batches pass the session check before either commits: the second to commit is
    judged again, and its copy is a duplicate, as when they come one after the other."""
    frm = encrypt(PAYLOAD, KEY, DEV_ADDR, 1)
    ttn = ttn_uplink(EM300, DEV_ADDR, 1, frm, "2026-11-22T10:00:00.100Z")
    chirpstack = chirpstack_up(EM300, DEV_ADDR, 1, frm, "2026-11-22T10:00:00.300Z", f_port=85)
    first = _during_commit(monkeypatch, lambda: host_b.ingest(
        TENANT, [deliver("chirpstack", orjson.dumps(chirpstack), parse_chirpstack, "up")]))
    second = host_a.ingest(TENANT, [deliver("ttn", orjson.dumps(ttn), parse_ttn)])
    assert first[0].accepted == 1
    assert second.duplicates == 1 and second.accepted == 0
    assert len(platform.bus.recent("observations")) == 1
    assert state(platform)["time"] == "2026-11-22T10:00:00.300000Z"  # the copy stored
    assert stored_times(host_a) == ["10:00"] * 3


def test_a_device_registered_again_during_a_delete_keeps_its_new_state(
    host_a, host_b, platform, monkeypatch
):
    """The DELETE's second look for a state must not take the new registration's."""
    from shared.telemetry.devices import DeviceRegistry

    host_a.ingest(TENANT, [up(1, 5)])
    unregister = DeviceRegistry.delete

    def unregister_then_register_again(self, dev_eui):
        unregister(self, dev_eui)
        monkeypatch.setattr(DeviceRegistry, "delete", unregister)
        register(host_b)
        assert host_b.ingest(TENANT, [up(1, 30, 12, BATTERY_90)]).accepted == 1

    monkeypatch.setattr(DeviceRegistry, "delete", unregister_then_register_again)
    host_a.delete_device(TENANT, EM300)
    assert state(platform) is not None
    assert host_b.ingest(TENANT, [up(1, 30, 12, BATTERY_90)]).duplicates == 1


def test_a_batch_judged_again_is_still_judged_once_more_for_a_device_registered_again(
    host_a, host_b, platform, monkeypatch
):
    """Judged again for a frame another batch took, then its device deleted and registered
    again meanwhile: its readings go to the new registration, not nowhere."""
    import shared.telemetry.ingest as ingest_module

    host_a.ingest(TENANT, [up(f, f) for f in (1, 2, 3)])
    meanwhile = [
        lambda: host_b.ingest(TENANT, [up(4, 30, payload=BATTERY_90)]),
        lambda: (host_b.delete_device(TENANT, EM300), register(host_b)),
    ]
    planned = ingest_module._StateMerge
    busy: list = []

    class Interleaved(planned):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            if meanwhile and not busy:  # one action before each of A's commits
                busy.append(True)
                meanwhile.pop(0)()
                busy.clear()
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_StateMerge", Interleaved)
    result = host_a.ingest(TENANT, [up(4, 30), up(5, 40)])
    assert not meanwhile
    assert result.accepted == len({o.epoch_ms for o in result.observations}) > 0
    assert "10:40" in stored_times(host_a)
    assert state(platform)["session"]["last"] == 5


def test_a_late_frame_taken_meanwhile_leaves_no_reading_in_its_hour(
    host_a, host_b, monkeypatch
):
    """A past hour's readings are written before the state commits: a frame another batch
    took meanwhile is found before they are, not after."""
    from shared.telemetry.series import TimeSeries

    host_a.ingest(TENANT, [up(f, f) for f in (1, 2, 3)])  # hour 10 open
    late = 9
    writes = TimeSeries.writes_elsewhere

    def taken_meanwhile(observations, state):
        monkeypatch.setattr(TimeSeries, "writes_elsewhere", staticmethod(writes))
        assert host_b.ingest(TENANT, [up(4, 20, payload=BATTERY_90)]).accepted == 1
        return writes(observations, state)

    monkeypatch.setattr(TimeSeries, "writes_elsewhere", staticmethod(taken_meanwhile))
    result = host_a.ingest(TENANT, [up(4, 30, late)])  # FCnt 4 again, other bytes, hour 9
    assert [r.reason for r in result.rejections] == ["fcnt_replayed"]
    assert batteries(host_a) == [("10:01", 92.0), ("10:02", 92.0), ("10:03", 92.0),
                                 ("10:20", 90.0)]


def test_late_frames_push_no_newer_counter_out_of_the_window(host_a, monkeypatch):
    """The window keeps the highest counters, not the latest arrivals: else a late frame
    would make ingest forget a newer one, whose captured copy would pass as new."""
    import shared.telemetry.ingest as ingest_module

    host_a.ingest(TENANT, [up(f, f) for f in range(1, 10)] + [up(13, 13)])
    host_a.ingest(TENANT, [up(f, f) for f in (10, 11, 12)])  # late
    later = time.time() + ingest_module.OUTBOX_HORIZON_S + 1  # out of the outbox too
    monkeypatch.setattr(ingest_module.time, "time", lambda: later)
    for f in range(14, 77):
        host_a.ingest(TENANT, [up(f, f % 60, 10 + f // 60)])
    replay = host_a.ingest(TENANT, [up(13, 59, 15)])  # FCnt 13's bytes again, later
    assert replay.accepted == 0 and replay.duplicates == 1


def test_a_late_frame_is_not_stored_in_an_hour_the_sweep_sealed_meanwhile_past_its_limit(
    host_a, host_b, platform, monkeypatch
):
    import shared.telemetry.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "MAX_HOUR_READINGS", 9)
    host_a.ingest(TENANT, [up(1, 5), up(2, 6)])  # hour 10 open, 6 readings
    swept = _during_commit(monkeypatch, lambda: host_b.seal_quiet_hours(
        datetime(2026, 11, 22, 13, tzinfo=UTC)))
    assert host_a.ingest(TENANT, [up(3, 30)]).accepted == 1  # 9 readings: the limit
    assert swept == [1]
    monkeypatch.setattr(ingest_module, "_StateMerge", ingest_module._StateMerge.__mro__[1])
    more = [host_a.ingest(TENANT, [up(f, 30 + f)]) for f in (4, 5)]
    assert [[r.reason for r in m.rejections] for m in more] == [["too_large"], ["too_large"]]
    assert stored_times(host_a) == ["10:05"] * 3 + ["10:06"] * 3 + ["10:30"] * 3


def test_a_device_that_changes_from_counters_to_clear_messages_still_knows_their_copies(
    host_a, platform
):
    """Its old counters stay in the window: the clear messages' digests must not be the first
    entries to go, or a redelivered one (same enqueued time) is stored and published again."""
    from datetime import timedelta

    from shared.telemetry.envelope import seal_envelope
    from shared.telemetry.ingest import deliver_from_device

    sensor, aes = "0004a30b001c2b3d", bytes(range(32))
    host_a.put_device(TENANT, sensor, DeviceUpsert.model_validate(
        {"model": "json", "name": "Brygga", "aesKey": aes.hex()}))
    sent = datetime(2026, 11, 22, 10, tzinfo=UTC)

    def message(body: bytes, at: datetime) -> Delivery:
        return deliver_from_device("iothub", body, sensor, at)

    for seq in range(1, 71):
        sealed = seal_envelope(b'{"temperature": 4.5}', aes, TENANT, sensor, seq)
        host_a.ingest(TENANT, [message(orjson.dumps(sealed), sent + timedelta(seconds=seq))])
    host_a.put_device(TENANT, sensor, DeviceUpsert.model_validate(
        {"model": "json", "name": "Brygga", "aesKey": None}))
    clear = [(orjson.dumps({"temperature": 5.0 + i}), sent + timedelta(minutes=5 + i))
             for i in range(3)]
    for body, at in clear:
        assert host_a.ingest(TENANT, [message(body, at)]).accepted == 1
    again = host_a.ingest(TENANT, [message(*clear[0])])  # IoT Hub delivers it again
    assert (again.accepted, again.duplicates) == (0, 1)


def test_a_new_hour_is_opened_though_the_sweep_sealed_the_last_one_meanwhile(
    host_a, platform, monkeypatch
):
    """Only an hour the sweep sealed stays sealed: a newer one still opens in the state (else
    each of its readings would be one more bucket write)."""
    host_a.ingest(TENANT, [up(1, 1, 10)])  # hour 10 open
    _during_commit(monkeypatch, lambda: host_a.seal_quiet_hours(
        datetime(2026, 11, 22, 13, tzinfo=UTC)))
    host_a.ingest(TENANT, [up(2, 0, 15)])
    monkeypatch.undo()
    host_a.ingest(TENANT, [up(3, 5, 15)])
    assert state(platform)["openBucket"] == "2026-11-22T15"
    assert stored_times(host_a) == ["10:01"] * 3 + ["15:00"] * 3 + ["15:05"] * 3


def test_a_message_of_a_device_deleted_while_it_is_stored_stays_in_the_quarantine(
    host_a, host_b, platform, monkeypatch
):
    """Its state went with the device, so its readings were not kept: the message is set
    aside as unknown_device (replayable), not answered as accepted and dropped."""
    host_a.ingest(TENANT, [up(1, 1)])  # the device has a state
    _during_commit(monkeypatch, lambda: host_b.delete_device(TENANT, EM300))
    result = host_a.ingest(TENANT, [up(2, 5)])
    assert result.accepted == 0 and result.observations == []
    assert [r.reason for r in result.rejections] == ["unknown_device"]
    assert host_a.quarantine(TENANT).counts() == {"unknown_device": 1}
