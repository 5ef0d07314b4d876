"""The benchmarks' workload: a fleet of LoRaWAN sensors and their uplinks, built once up front.

Payloads are each vendor's exact bytes (the simulator's encoders, `shared.simulator.payloads`),
encrypted with the sensor's own AppSKey and wrapped in real The Things Stack v3 webhook JSON
(`tests.support.uplinks`), so every benchmark feeds the production parsers and codecs what a
network server would. Values are a January week in Vestfold: frost in the air, near-freezing
lakes. Everything is seeded: two runs measure the same messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from shared.simulator.payloads import ENCODERS, Conditions
from shared.store import Document
from shared.telemetry.codecs import MODELS
from shared.telemetry.devices import DeviceUpsert
from shared.telemetry.uplinks import Uplink, parse_ttn
from tests.support.uplinks import encrypt, ttn_uplink

TENANT = "sandefjord"
#: Every LoRaWAN model the platform decodes (the JSON model is for IP devices).
LORAWAN_MODELS: tuple[str, ...] = tuple(m for m in MODELS if ENCODERS[m].fport is not None)
START = datetime(2026, 1, 12, tzinfo=UTC)
INTERVAL = timedelta(minutes=10)
#: Models whose external probe sits in a lake; the others measure air.
_IN_WATER = frozenset({"dragino-lht65", "elsys-elt", "decentlab-dl-ds18", "decentlab-dl-pr26"})
#: A 0-1 bar DL-PR26 transducer (the variant TTN's decoder is written for).
_PARAMS: dict[str, dict[str, Any]] = {"decentlab-dl-pr26": {"pmin": 0.0, "pmax": 1.0}}


@dataclass(frozen=True, slots=True)
class Sensor:
    """One registered LoRaWAN device and its session."""

    dev_eui: str
    dev_addr: str  # 8 hex digits, as network servers print it
    app_s_key: bytes
    model: str

    @property
    def params(self) -> dict[str, Any]:
        return _PARAMS.get(self.model, {})

    @property
    def medium(self) -> str:
        return "water" if self.model in _IN_WATER else "air"

    def registration(self) -> DeviceUpsert:
        """What an operator PUTs to register it (the key goes to the key store)."""
        return DeviceUpsert.model_validate(
            {
                "model": self.model,
                "name": f"{self.model} {self.dev_eui[-4:]}",
                "area": "goksjo" if self.medium == "water" else "sentrum",
                "medium": self.medium,
                "location": {"lat": 59.17, "lon": 10.17},
                "params": self.params,
                "appSKey": self.app_s_key.hex(),
            }
        )

    def document(self) -> Document:
        """The device document as the registry stores it (for benchmarks without a store)."""
        upsert = self.registration()
        return upsert.model_dump(mode="json", exclude={"app_s_key", "aes_key"}) | {
            "id": self.dev_eui,
            "devEui": self.dev_eui,
            "hasAppSKey": True,
            "hasAesKey": False,
        }


@dataclass(frozen=True, slots=True)
class Frame:
    """One uplink as the network server forwarded it."""

    sensor: Sensor
    fcnt: int
    received: datetime
    frm_payload: bytes  # encrypted with the sensor's AppSKey

    def ttn_json(self) -> bytes:
        received = self.received.isoformat().replace("+00:00", "Z")
        message = ttn_uplink(
            self.sensor.dev_eui,
            self.sensor.dev_addr,
            self.fcnt,
            self.frm_payload,
            received,
            f_port=ENCODERS[self.sensor.model].fport or 0,
        )
        return orjson.dumps(message)

    def uplink(self) -> Uplink:
        parsed = parse_ttn(self.ttn_json())
        assert isinstance(parsed, Uplink)
        return parsed


def fleet(size: int, seed: int = 1) -> list[Sensor]:
    """`size` sensors, the LoRaWAN models in turn, each with its own DevAddr and AppSKey."""
    rng = random.Random(seed)
    return [
        Sensor(
            dev_eui=f"a84041{seed:02x}{index:08x}",
            dev_addr=f"26{rng.getrandbits(24):06x}",
            app_s_key=rng.randbytes(16),
            model=LORAWAN_MODELS[index % len(LORAWAN_MODELS)],
        )
        for index in range(size)
    ]


def _conditions(rng: random.Random) -> Conditions:
    return Conditions(
        air_temperature=rng.uniform(-18.0, 4.0),
        humidity=rng.uniform(55.0, 98.0),
        illuminance=rng.uniform(0.0, 9000.0),
        battery=rng.uniform(0.2, 1.0),
        water_temperature=rng.uniform(0.3, 4.0),
        pressure=rng.uniform(2_000.0, 40_000.0),  # Pa of water above a probe 0.2-4 m deep
    )


def frames(sensors: list[Sensor], uplinks_each: int, seed: int = 1) -> list[Frame]:
    """Each sensor's uplinks every INTERVAL from START, staggered, in time order."""
    rng = random.Random(seed)
    stagger = INTERVAL / len(sensors)
    built = []
    for step in range(uplinks_each):
        for index, sensor in enumerate(sensors):
            encoder = ENCODERS[sensor.model]
            payload = encoder(_conditions(rng), sensor.params)
            fcnt = step + 1
            built.append(
                Frame(
                    sensor=sensor,
                    fcnt=fcnt,
                    received=START + step * INTERVAL + index * stagger,
                    frm_payload=encrypt(payload, sensor.app_s_key.hex(), sensor.dev_addr, fcnt),
                )
            )
    return built
