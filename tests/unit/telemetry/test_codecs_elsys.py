"""Elsys ERS / ERS Lite / ELT codec against the examples in TheThingsNetwork/lorawan-devices
vendor/elsys/*-codec.yaml (decoder: vendor/elsys/elsys.js)."""

from __future__ import annotations

import pytest

from shared.telemetry.codecs import CodecError, Measurement, get_codec

G = 9.80665


def decode(payload: bytes | str, model: str = "elsys-ers") -> list[Measurement]:
    if isinstance(payload, str):
        payload = bytes.fromhex(payload.replace(" ", ""))
    return get_codec(model).decode(payload, 1, {})


@pytest.mark.parametrize("model", ["elsys-ers", "elsys-ers-lite", "elsys-elt"])
def test_elsys_decodes_ers_lite_example(model: str) -> None:
    # vendor/elsys/ers-lite-codec.yaml: temperature 22.6, humidity 41
    assert decode(bytes([0x01, 0x00, 0xE2, 0x02, 0x29]), model) == [
        Measurement("temperature", 22.6, "Cel"),
        Measurement("humidity", 41.0, "%RH"),
    ]


def test_elsys_decodes_ers_co2_example() -> None:
    # vendor/elsys/ers-co2-codec.yaml: 22.6 degC, 41 %, light 39, motion 6, co2 776
    payload = bytes([0x01, 0x00, 0xE2, 0x02, 0x29, 0x04, 0x00, 0x27, 0x05, 0x06, 0x06, 0x03, 0x08])
    assert decode(payload) == [
        Measurement("temperature", 22.6, "Cel"),
        Measurement("humidity", 41.0, "%RH"),
        Measurement("illuminance", 39.0, "lx"),
        Measurement("motion", 6.0, "count"),
        Measurement("co2", 776.0, "ppm"),
    ]


def test_elsys_decodes_ers_co2_lite_example() -> None:
    # vendor/elsys/ers-co2-lite-codec.yaml
    assert decode(bytes([0x01, 0x00, 0xE2, 0x02, 0x29, 0x06, 0x03, 0x08])) == [
        Measurement("temperature", 22.6, "Cel"),
        Measurement("humidity", 41.0, "%RH"),
        Measurement("co2", 776.0, "ppm"),
    ]


def test_elsys_decodes_ems_example_skipping_pulse_records() -> None:
    # vendor/elsys/ems-codec.yaml: x 1, y 39, z 5, pulse1 (no Smartby quantity), waterleak 17
    measurements = decode("01 00E2 02 29 03 012705 0A 1101 12 11 0A 2111")
    assert [(m.quantity, m.unit) for m in measurements] == [
        ("temperature", "Cel"),
        ("humidity", "%RH"),
        ("acceleration_x", "m/s2"),
        ("acceleration_y", "m/s2"),
        ("acceleration_z", "m/s2"),
        ("water_leak", "/"),
    ]
    values = [m.value for m in measurements]
    assert values[:2] == [22.6, 41.0]
    assert values[2:5] == pytest.approx([1 * G / 63, 39 * G / 63, 5 * G / 63])  # 63 = 1 g
    assert values[5] == pytest.approx(17 / 255)


def test_elsys_decodes_negative_temperature() -> None:
    assert decode("01 FF9C") == [Measurement("temperature", -10.0, "Cel")]


def test_elsys_decodes_external_water_probe_as_probe_temperature() -> None:
    assert decode("0C FF38") == [Measurement("probe_temperature", -20.0, "Cel", probe=True)]


def test_elsys_converts_vdd_analog_and_pressure_to_si_units() -> None:
    # VDD 3600 mV; analog input 1 2500 mV; pressure 1013.250 hPa = 1013250 / 1000 hPa
    assert decode("07 0E10 08 09C4 14 000F7602") == [
        Measurement("battery_voltage", 3.6, "V"),
        Measurement("analog_voltage", 2.5, "V"),
        Measurement("pressure", 101325.0, "Pa"),
    ]


def test_elsys_decodes_negative_acceleration() -> None:
    measurements = decode("03 C1 00 3F")  # -63, 0, 63 counts = -1 g, 0, 1 g
    assert [m.value for m in measurements] == pytest.approx([-G, 0.0, G])


def test_elsys_rejects_unknown_record_type() -> None:
    with pytest.raises(CodecError) as caught:
        decode("01 00E2 FE 00 02 29")
    assert caught.value.reason == "unknown_record"


@pytest.mark.parametrize("payload", ["", "01", "01 00", "14 000F76", "13 00"])
def test_elsys_rejects_truncated_payload(payload: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode(payload)
    assert caught.value.reason == "too_short"


@pytest.mark.parametrize(
    "payload",
    [
        "02 65",  # 101 %RH
        "06 FFFF",  # 65535 ppm CO2
        "01 0384",  # 90.0 degC air
        "07 1770",  # VDD 6.0 V
        "0D 02",  # digital input must be 0 or 1
    ],
)
def test_elsys_rejects_values_outside_physical_range(payload: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode(payload)
    assert caught.value.reason == "out_of_range"


def test_elsys_rejects_elt2_example_that_vendor_left_commented_out() -> None:
    # vendor/elsys/elt-2-codec.yaml has this example commented out; its expected pressure,
    # 100729.105 hPa, is no air pressure, so the codec must not pass it on.
    payload = bytes([0x01, 0x00, 0xE2, 0x02, 0x29, 0x03, 0x01, 0x27, 0x05, 0x14, 0x06, 0x01])
    with pytest.raises(CodecError) as caught:
        decode(payload + bytes([0x01, 0x11]))
    assert caught.value.reason == "out_of_range"


def test_elsys_temperature_is_sign_extended_for_every_raw_value() -> None:
    codec = get_codec("elsys-ers")
    accepted = {}
    for raw in range(-32768, 32768):
        payload = b"\x01" + raw.to_bytes(2, "big", signed=True)
        try:
            accepted[raw] = codec.decode(payload, 1, {})[0].value
        except CodecError as error:
            assert error.reason == "out_of_range"
    assert accepted == {raw: raw / 10 for raw in range(-400, 851)}  # -40.0 .. 85.0 degC
