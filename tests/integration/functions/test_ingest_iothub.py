"""The IoT Hub trigger, invoked in-process with host-shaped batches."""

from __future__ import annotations

import json

import orjson

from shared.telemetry.envelope import seal_envelope
from tests.conftest import ADMIN_KEY
from tests.support.iothub import D2CMessage, trigger_batch

SENSOR = "0004a30b001c2b3d"
AES_KEY = bytes(range(32))


def _setup(platform):
    from shared.telemetry.devices import DeviceUpsert
    from shared.tenants.model import TenantCreate

    for tenant, number in (("sandefjord", "3907"), ("drammen", "3301")):
        platform.tenants.create(TenantCreate(id=tenant, name=tenant, kommunenummer=number))
    platform.ingestor.registry("sandefjord").put(SENSOR, DeviceUpsert.model_validate(
        {"model": "json", "name": "Havnelageret", "area": "havna", "aesKey": AES_KEY.hex()}
    ))


def test_iothub_trigger_is_registered_with_identity_connection(registered):
    binding = json.loads(registered("ingest_iothub").get_function_json())["bindings"][0]
    assert binding["type"] == "eventHubTrigger"
    assert binding["connection"] == "IOTHUB"
    assert binding["eventHubName"] == "%IOTHUB_EVENTHUB_NAME%"
    assert binding["consumerGroup"] == "%IOTHUB_CONSUMER_GROUP%"
    assert binding["cardinality"].lower() == "many"


def test_batch_is_routed_by_the_tenant_enrichment(registered):
    from functions import platform

    _setup(platform())
    sealed = seal_envelope(b'{"temperature": -3.5, "humidity": 88}', AES_KEY, "sandefjord",
                           SENSOR, 1)
    events = trigger_batch([
        D2CMessage(SENSOR, orjson.dumps(sealed), properties={"tenant": "sandefjord"}),
        D2CMessage(SENSOR, orjson.dumps(sealed), properties={"tenant": "sandefjord"}),
        D2CMessage(SENSOR, orjson.dumps(sealed), properties={"tenant": "drammen"}),
        D2CMessage(SENSOR, b"{not json", properties={}),
        D2CMessage(SENSOR, orjson.dumps(sealed), properties={"tenant": "nowhere"}),
        D2CMessage(SENSOR, orjson.dumps(sealed), properties={"tenant": "$twin.tags.tenant"}),
    ])
    registered("ingest_iothub").get_user_function()(events)

    ingestor = platform().ingestor
    latest = platform().store.container("latest").read("sandefjord", SENSOR)
    assert latest["values"]["temperature"]["value"] == -3.5
    assert latest["values"]["temperature"]["time"] == "2026-11-22T10:00:00.123000Z"  # to the ms
    # The redelivered copy was a duplicate; drammen does not have the device.
    assert ingestor.quarantine("drammen").counts() == {"unknown_device": 1}
    # No tag on the twin: IoT Hub stamps the enrichment's literal text.
    assert ingestor.quarantine("platform").counts() == {"unknown_tenant": 3}
    assert platform().bus.published("observations") == 1  # one instant: temperature, humidity


def test_envelope_sealed_for_another_tenant_is_rejected(registered):
    from functions import platform

    _setup(platform())
    sealed = seal_envelope(b'{"temperature": 1.0}', AES_KEY, "drammen", SENSOR, 1)
    events = trigger_batch([D2CMessage(SENSOR, orjson.dumps(sealed),
                                       properties={"tenant": "sandefjord"})])
    registered("ingest_iothub").get_user_function()(events)
    assert platform().ingestor.quarantine("sandefjord").counts() == {"decrypt_failed": 1}


def test_clear_message_from_a_keyed_device_is_rejected(registered):
    from functions import platform

    _setup(platform())
    events = trigger_batch([D2CMessage(SENSOR, b'{"temperature": 30}',
                                       properties={"tenant": "sandefjord"})])
    registered("ingest_iothub").get_user_function()(events)
    assert platform().ingestor.quarantine("sandefjord").counts() == {"decrypt_failed": 1}
    assert ADMIN_KEY not in str(platform().ingestor.quarantine("sandefjord").list(None, 10, None))


def test_the_same_clear_reading_sent_again_later_is_a_new_reading(registered):
    """Clear JSON has no nonce or counter: what makes a redelivery is its enqueued time."""
    from functions import platform
    from shared.telemetry.devices import DeviceUpsert
    from shared.tenants.model import TenantCreate

    platform().tenants.create(TenantCreate(id="sandefjord", name="s", kommunenummer="3907"))
    platform().ingestor.registry("sandefjord").put(
        SENSOR, DeviceUpsert.model_validate({"model": "json", "name": "Havnelageret"}))
    body = b'{"temperature": 4.5}'

    def sent(enqueued: str) -> D2CMessage:
        return D2CMessage(SENSOR, body, properties={"tenant": "sandefjord"}, enqueued=enqueued)

    batch = [sent("2026-11-22T10:00:00.000Z"), sent("2026-11-22T10:10:00.000Z")]
    ingest = registered("ingest_iothub").get_user_function()
    ingest(trigger_batch(batch))
    ingest(trigger_batch(batch[1:]))  # redelivered
    latest = platform().store.container("latest").read("sandefjord", SENSOR)
    assert latest["values"]["temperature"]["time"] == "2026-11-22T10:10:00Z"
    assert sorted(latest["open"]["up"]) == ["1795341600000", "1795342200000"]  # 10:00, 10:10


def test_a_copy_that_routing_delivers_again_is_known_by_iot_hubs_enqueued_time(registered):
    """IoT Hub routing is at least once, and each copy is enqueued anew in the Event Hub."""
    from functions import platform
    from shared.telemetry.devices import DeviceUpsert
    from shared.tenants.model import TenantCreate

    platform().tenants.create(TenantCreate(id="sandefjord", name="s", kommunenummer="3907"))
    platform().ingestor.registry("sandefjord").put(
        SENSOR, DeviceUpsert.model_validate({"model": "json", "name": "Havnelageret"}))
    copies = [
        D2CMessage(SENSOR, b'{"temperature": -3.5}', properties={"tenant": "sandefjord"},
                   enqueued="2026-11-22T10:00:00.1000000Z", routed=routed)
        for routed in ("2026-11-22T10:00:00.1500000Z", "2026-11-22T10:00:02.7300000Z")
    ]
    ingest = registered("ingest_iothub").get_user_function()
    ingest(trigger_batch(copies))
    latest = platform().store.container("latest").read("sandefjord", SENSOR)
    assert latest["values"]["temperature"]["time"] == "2026-11-22T10:00:00.100000Z"
    assert list(latest["open"]["up"]) == ["1795341600100"]
    assert platform().bus.published("observations") == 1


def test_refused_messages_name_their_sender_and_time_even_unparsed(registered):
    """An untwinned device (no tenant tag) or a device id that is not an EUI-64: the operator
    must see which IoT Hub device to fix, and two devices' messages are two records."""
    from functions import platform

    _setup(platform())
    body = b'{"temperature": 4.5}'
    untagged = {"tenant": "$twin.tags.tenant"}
    ingest = registered("ingest_iothub").get_user_function()
    ingest(trigger_batch([
        D2CMessage(SENSOR, body, properties=untagged, enqueued="2026-11-22T10:00:00Z"),
        D2CMessage("0004a30b001c2b3e", body, properties=untagged, enqueued="2026-11-22T10:00:00Z"),
        D2CMessage(SENSOR, body, properties=untagged, enqueued="2026-11-22T10:10:00Z"),
        D2CMessage("pumpestasjon-3", body, properties={"tenant": "sandefjord"}),
        D2CMessage("pumpestasjon-4", body, properties={"tenant": "sandefjord"}),
    ]))
    unrouted, _ = platform().ingestor.quarantine("platform").list(None, 50, None)
    assert sorted((r.device, f"{r.uplink_time:%H:%M}") for r in unrouted) == [
        (SENSOR, "10:00"), (SENSOR, "10:10"), ("0004a30b001c2b3e", "10:00"),
    ]
    malformed, _ = platform().ingestor.quarantine("sandefjord").list("malformed", 50, None)
    assert sorted(r.device for r in malformed) == ["pumpestasjon-3", "pumpestasjon-4"]


def test_an_enqueued_time_at_the_end_of_the_calendar_fails_no_batch(registered):
    """IoT Hub sets the time, but a batch must survive any value its metadata can carry."""
    from functions import platform
    from shared.telemetry.devices import DeviceUpsert
    from shared.tenants.model import TenantCreate

    platform().tenants.create(TenantCreate(id="sandefjord", name="s", kommunenummer="3907"))
    platform().ingestor.registry("sandefjord").put(
        SENSOR, DeviceUpsert.model_validate({"model": "json", "name": "Havnelageret"}))
    last = D2CMessage(SENSOR, b'{"temperature": 4.5}', properties={"tenant": "sandefjord"},
                      enqueued="9999-12-31T23:59:59.9999999Z")
    registered("ingest_iothub").get_user_function()(trigger_batch([last]))
    stored = platform().store.container("latest").read("sandefjord", SENSOR)
    assert stored["values"]["temperature"]["time"] == "9999-12-31T23:59:59.999000Z"  # in ms


def test_metadata_iot_hub_never_sends_fails_no_batch(registered):
    """Whatever the host hands over, the batch's good messages are stored and the others are
    quarantined: an exception here would fail, and retry for ever, the whole partition."""
    from functions import platform
    from shared.telemetry.devices import DeviceUpsert
    from shared.tenants.model import TenantCreate

    platform().tenants.create(TenantCreate(id="sandefjord", name="s", kommunenummer="3907"))
    platform().ingestor.registry("sandefjord").put(
        SENSOR, DeviceUpsert.model_validate({"model": "json", "name": "Havnelageret"}))
    tagged = {"tenant": "sandefjord"}
    ingest = registered("ingest_iothub").get_user_function()
    ingest(trigger_batch([
        D2CMessage(SENSOR, b'{"temperature": 4.5}', properties=tagged),
        D2CMessage(None, b'{"temperature": 5.5}', properties=tagged),
        D2CMessage(17, b'{"temperature": 6.5}', properties=tagged),
    ]))
    # Application properties for only the first of two messages: the second is unrouted.
    ingest(trigger_batch([
        D2CMessage(SENSOR, b'{"temperature": 7.5}', enqueued="2026-11-22T10:10:00Z"),
        D2CMessage(SENSOR, b'{"temperature": 8.5}', enqueued="2026-11-22T10:20:00Z"),
    ], properties_array=[tagged]))
    latest = platform().store.container("latest").read("sandefjord", SENSOR)
    assert latest["values"]["temperature"]["value"] == 7.5
    assert platform().ingestor.quarantine("sandefjord").counts() == {"malformed": 2}
    assert platform().ingestor.quarantine("platform").counts() == {"unknown_tenant": 1}


def test_an_unreadable_iot_hub_time_is_replaced_by_the_event_hubs_and_said(registered, caplog):
    from functions import platform
    from shared.telemetry.devices import DeviceUpsert
    from shared.tenants.model import TenantCreate

    platform().tenants.create(TenantCreate(id="sandefjord", name="s", kommunenummer="3907"))
    platform().ingestor.registry("sandefjord").put(
        SENSOR, DeviceUpsert.model_validate({"model": "json", "name": "Havnelageret"}))
    message = D2CMessage(SENSOR, b'{"temperature": 4.5}', properties={"tenant": "sandefjord"},
                         enqueued="1795341600100", routed="2026-11-22T10:00:02.7300000Z")
    registered("ingest_iothub").get_user_function()(trigger_batch([message]))
    latest = platform().store.container("latest").read("sandefjord", SENSOR)
    assert latest["values"]["temperature"]["time"] == "2026-11-22T10:00:02.730000Z"
    assert "iothub-enqueuedtime '1795341600100' is not a time" in caplog.text
