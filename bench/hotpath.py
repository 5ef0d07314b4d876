"""Figure 1: decrypt + decode + normalise + serialise, per message, on one core.

Each message takes the path `Ingestor._accept` takes after its session check, through the same
functions: the device's cipher from a `CipherCache` and `FrmPayloadCipher.decrypt`, then
`decode_uplink` (the model's codec and `normalise`), then every observation's CloudEvent
(`observations.event`) serialised with orjson, as the Event Hubs bus sends it. Messages mix all
LoRaWAN models. Parsing the network server's JSON is not part of it (see `endtoend`).

Baseline: the same work done naively, with a new AES cipher per message (key setup every time)
and the standard library's `json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import orjson

from bench.report import Figure, best_seconds, progress
from bench.workload import TENANT, fleet, frames
from shared.bus import CloudEvent
from shared.store import Document
from shared.telemetry.ingest import decode_uplink
from shared.telemetry.lorawan import CipherCache, FrmPayloadCipher
from shared.telemetry.observations import event
from shared.telemetry.uplinks import Uplink

SENSORS = 200
UPLINKS_EACH = 20
ROUNDS = 5


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed uplink with what ingest would have looked up for it: device and AppSKey."""

    device: Document
    uplink: Uplink
    app_s_key: bytes


def messages(sensors: int = SENSORS, uplinks_each: int = UPLINKS_EACH) -> list[Message]:
    documents = {}
    built = []
    for frame in frames(fleet(sensors), uplinks_each):
        sensor = frame.sensor
        device = documents.setdefault(sensor.dev_eui, sensor.document())
        built.append(Message(device, frame.uplink(), sensor.app_s_key))
    return built


def serialise_all(
    batch: list[Message],
    cipher_for: Callable[[Message], FrmPayloadCipher],
    dumps: Callable[[CloudEvent], bytes],
) -> int:
    """Decrypt, decode, normalise and serialise every message; returns the events serialised."""
    serialised = 0
    for message in batch:
        uplink = message.uplink
        plaintext = cipher_for(message).decrypt(
            uplink.payload, uplink.dev_addr or 0, uplink.fcnt or 0
        )
        for observation in decode_uplink(TENANT, message.device, uplink, plaintext):
            dumps(event(observation))
            serialised += 1
    return serialised


def _new_cipher(message: Message) -> FrmPayloadCipher:
    return FrmPayloadCipher(message.app_s_key)


def _stdlib_json(cloud_event: CloudEvent) -> bytes:
    return json.dumps(cloud_event).encode()


def runs(batch: list[Message]) -> tuple[Callable[[], int], Callable[[], int]]:
    """The measured path over `batch` (a warm `CipherCache`, orjson) and its naive baseline (a
    cipher built per message, stdlib json); each returns how many events it serialised."""
    ciphers: CipherCache[FrmPayloadCipher] = CipherCache(FrmPayloadCipher)

    def cached(message: Message) -> FrmPayloadCipher:
        return ciphers.get(TENANT, message.uplink.dev_eui, message.app_s_key)

    return (
        partial(serialise_all, batch, cached, orjson.dumps),
        partial(serialise_all, batch, _new_cipher, _stdlib_json),
    )


def measure() -> Figure:
    batch = messages()
    fast, naive = runs(batch)
    serialised = fast()  # warms the cipher cache, as a running host has it
    if naive() != serialised:
        raise AssertionError("the baseline did not do the same work")
    progress(f"hot path: {len(batch)} messages, {serialised} events, best of {ROUNDS} rounds")
    rate = len(batch) / best_seconds(fast, ROUNDS)
    baseline = len(batch) / best_seconds(naive, ROUNDS)
    return Figure("hotpath_msgs_per_s_per_core", rate, "msgs/s", baseline)
