"""Every encoder round-trips through the real decoder, negative temperatures included."""

from __future__ import annotations

import struct

import pytest

from shared.simulator.payloads import ENCODERS, Conditions
from shared.telemetry.codecs import MODELS, get_codec

WINTER_LAKE = Conditions(
    air_temperature=-12.3,
    humidity=93.0,
    illuminance=0.0,
    battery=0.8,
    water_temperature=0.6,
    pressure=19_600.0,
)
SUMMER_LAKE = Conditions(
    air_temperature=24.7,
    humidity=48.5,
    illuminance=41_250.0,
    battery=0.3,
    water_temperature=21.4,
    pressure=4_900.0,
)
FROSTY_YARD = Conditions(air_temperature=-27.37, humidity=71.5, illuminance=850.0, battery=1.0)
CASES = {"winter-lake": WINTER_LAKE, "summer-lake": SUMMER_LAKE, "frosty-yard": FROSTY_YARD}
PR26_PARAMS = {"pmin": 0.0, "pmax": 1.0}

# quantity -> (what it should equal, tolerance: half the field's resolution)
EXPECTED = {
    "milesight-em300-th": {"temperature": ("air", 0.05), "humidity": ("humidity", 0.25)},
    "elsys-ers": {
        "temperature": ("air", 0.05),
        "humidity": ("humidity", 0.5),
        "illuminance": ("illuminance", 0.5),
    },
    "elsys-ers-lite": {"temperature": ("air", 0.05), "humidity": ("humidity", 0.5)},
    "elsys-elt": {
        "temperature": ("air", 0.05),
        "humidity": ("humidity", 0.5),
        "probe_temperature": ("probe", 0.05),
    },
    "dragino-lht65": {
        "temperature": ("air", 0.005),
        "humidity": ("humidity", 0.05),
        "probe_temperature": ("probe", 0.005),
    },
    "dragino-lsn50v2-d20": {
        "temperature": ("air", 0.05),
        "humidity": ("humidity", 0.05),
        "probe_temperature": ("probe", 0.05),
    },
    "decentlab-dl-ds18": {"probe_temperature": ("probe", 1 / 32)},
    "decentlab-dl-pr26": {"pressure": ("pressure", 2.0), "liquid_temperature": ("probe", 0.002)},
}


def _truth(conditions: Conditions, source: str) -> float:
    values = {
        "air": conditions.air_temperature,
        "humidity": conditions.humidity,
        "illuminance": conditions.illuminance,
        "probe": conditions.probe_temperature,
        "pressure": conditions.pressure,
    }
    value = values[source]
    assert value is not None
    return value


def _roundtrip(model: str, conditions: Conditions) -> dict[str, float]:
    encoder = ENCODERS[model]
    params = PR26_PARAMS if model == "decentlab-dl-pr26" else {}
    payload = encoder(conditions, params)
    measurements = get_codec(model).decode(payload, encoder.fport or 0, params)
    decoded = {m.quantity: m.value for m in measurements}
    assert len(decoded) == len(measurements), "a quantity was decoded twice"
    return decoded


def test_every_registered_codec_has_an_encoder() -> None:
    assert set(ENCODERS) == set(MODELS)


ROUNDTRIPS = [
    (model, case)
    for model in sorted(EXPECTED)
    for case, conditions in CASES.items()
    if model != "decentlab-dl-pr26" or conditions.pressure is not None  # only ever in water
]


@pytest.mark.parametrize(("model", "case"), ROUNDTRIPS)
def test_binary_encoders_roundtrip_through_the_real_decoder(model: str, case: str) -> None:
    conditions = CASES[case]
    decoded = _roundtrip(model, conditions)
    for quantity, (source, tolerance) in EXPECTED[model].items():
        assert decoded[quantity] == pytest.approx(_truth(conditions, source), abs=tolerance)
    battery = decoded.get("battery_voltage")
    if battery is not None:
        assert 2.4 <= battery <= 3.7


def test_negative_temperatures_keep_their_sign() -> None:
    lht65 = _roundtrip("dragino-lht65", FROSTY_YARD)
    assert lht65["temperature"] == -27.37
    assert lht65["probe_temperature"] == -27.37
    assert _roundtrip("decentlab-dl-ds18", FROSTY_YARD)["probe_temperature"] == pytest.approx(
        -27.375
    )
    assert _roundtrip("milesight-em300-th", WINTER_LAKE)["temperature"] == -12.3
    assert _roundtrip("elsys-elt", WINTER_LAKE)["temperature"] == -12.3


def test_water_probes_report_the_water_and_the_enclosure_reports_the_air() -> None:
    decoded = _roundtrip("elsys-elt", WINTER_LAKE)
    assert decoded["probe_temperature"] == 0.6
    assert decoded["temperature"] == -12.3


def test_battery_is_reported_as_each_vendor_does() -> None:
    assert _roundtrip("milesight-em300-th", SUMMER_LAKE)["battery"] == 30
    full = _roundtrip("dragino-lht65", FROSTY_YARD)["battery_voltage"]
    low = _roundtrip("dragino-lht65", SUMMER_LAKE)["battery_voltage"]
    assert full > low


def test_lht65_reproduces_the_vendor_example_bytes() -> None:
    # lht65-codec.yaml: CBF6 0B0D 0376 01 0ADD 7FFF = 3.062 V, 28.29 degC, 88.6 %RH, probe 27.81
    conditions = Conditions(
        air_temperature=28.29,
        humidity=88.6,
        illuminance=0.0,
        battery=(3.062 - 2.45) / (3.1 - 2.45),
        water_temperature=27.81,
    )
    assert ENCODERS["dragino-lht65"](conditions, {}).hex().upper() == "CBF60B0D0376010ADD7FFF"


def test_milesight_reproduces_the_vendor_example_bytes() -> None:
    # Milesight-IoT/SensorDecoders EM300 example: 01755C 03673401 046865 = 92 %, 30.8 degC, 50.5 %RH
    conditions = Conditions(air_temperature=30.8, humidity=50.5, illuminance=0.0, battery=0.92)
    assert ENCODERS["milesight-em300-th"](conditions, {}).hex().upper() == "01755C03673401046865"


def test_elsys_light_saturates_like_the_sensor() -> None:
    bright = Conditions(air_temperature=20.0, humidity=50.0, illuminance=110_000.0, battery=1.0)
    assert _roundtrip("elsys-ers", bright)["illuminance"] == 65_535


def test_pr26_needs_a_pressure() -> None:
    with pytest.raises(ValueError, match="pressure"):
        ENCODERS["decentlab-dl-pr26"](FROSTY_YARD, PR26_PARAMS)


def test_values_a_field_cannot_hold_are_refused_not_wrapped() -> None:
    impossible = Conditions(air_temperature=400.0, humidity=50.0, illuminance=0.0, battery=1.0)
    with pytest.raises(struct.error):
        ENCODERS["dragino-lht65"](impossible, {})


def test_json_device_reports_air_or_water() -> None:
    air = _roundtrip("json", FROSTY_YARD)
    assert air == {"temperature": -27.37, "humidity": 71.5, "battery": 100.0}
    water = _roundtrip("json", WINTER_LAKE)
    assert water == {"probe_temperature": 0.6, "battery": 80.0}
