"""Decentlab protocol-v2 codecs against TheThingsNetwork/lorawan-devices
vendor/decentlab/dl-ds18-codec.yaml and dl-pr26-0-1-codec.yaml (a 0-1 bar DL-PR26)."""

from __future__ import annotations

import pytest

from shared.telemetry.codecs import CodecError, Measurement, check_config, get_codec

DS18 = get_codec("decentlab-dl-ds18")
PR26 = get_codec("decentlab-dl-pr26")
PR26_0_1_BAR = {"pmin": 0.0, "pmax": 1.0}


def test_ds18_decodes_vendor_example_1() -> None:
    # temperature 21.875 degC, battery 3.093 V
    payload = bytes([0x02, 0x02, 0x3D, 0x00, 0x03, 0x81, 0x5E, 0x0C, 0x15])
    assert DS18.decode(payload, 1, {}) == [
        Measurement("probe_temperature", 21.875, "Cel", probe=True),
        Measurement("battery_voltage", 3.093, "V"),
    ]


def test_ds18_decodes_vendor_example_2_battery_only() -> None:
    payload = bytes([0x02, 0x02, 0x3D, 0x00, 0x02, 0x0C, 0x15])
    assert DS18.decode(payload, 1, {}) == [Measurement("battery_voltage", 3.093, "V")]


def test_ds18_decodes_negative_temperature() -> None:
    raw = 32768 - 160  # (x - 32768) / 16 = -10.0
    payload = bytes([0x02, 0x02, 0x3D, 0x00, 0x01]) + raw.to_bytes(2, "big")
    assert DS18.decode(payload, 1, {}) == [
        Measurement("probe_temperature", -10.0, "Cel", probe=True)
    ]


def test_pr26_decodes_vendor_example_1_in_pascal() -> None:
    # pressure -0.01171875 bar, temperature 25.671875 degC, battery 3.199 V
    payload = bytes([0x02, 0x01, 0x67, 0x00, 0x03, 0x3E, 0x80, 0x60, 0x17, 0x0C, 0x7F])
    pressure, temperature, battery = PR26.decode(payload, 1, PR26_0_1_BAR)
    assert pressure == Measurement("pressure", -0.01171875 * 100_000, "Pa", probe=True)
    assert temperature.quantity == "liquid_temperature"
    assert temperature.probe
    assert temperature.value == pytest.approx(25.671875)
    assert battery == Measurement("battery_voltage", 3.199, "V")


def test_pr26_decodes_vendor_example_2_battery_only() -> None:
    payload = bytes([0x02, 0x01, 0x67, 0x00, 0x02, 0x0C, 0x7F])
    assert PR26.decode(payload, 1, PR26_0_1_BAR) == [Measurement("battery_voltage", 3.199, "V")]


def test_pr26_scales_pressure_by_the_configured_transducer_range() -> None:
    # x0 = 49152 is the top of the range: pmax; DL-PR21-style -1..10 bar variant
    payload = bytes([0x02, 0x01, 0x67, 0x00, 0x01, 0xC0, 0x00, 0x60, 0x17])
    pressure = PR26.decode(payload, 1, {"pmin": -1, "pmax": 10})[0]
    assert pressure.value == pytest.approx(10 * 100_000)


def test_pr26_decodes_liquid_temperature_below_zero() -> None:
    raw = 384 + round(40 / 0.003125)  # (x - 384) * 0.003125 - 50 = -10.0
    payload = bytes([0x02, 0x01, 0x67, 0x00, 0x01, 0x40, 0x00]) + raw.to_bytes(2, "big")
    temperature = PR26.decode(payload, 1, PR26_0_1_BAR)[1]
    assert temperature.value == pytest.approx(-10.0)


def test_pr26_values_carry_no_float_arithmetic_noise() -> None:
    # (17728 - 384) * 0.003125 - 50 is 4.200000000000003 in floats; the sensor said 4.2 degC.
    # x0 = 16385 on a -1..10 bar transducer is -99966.4306640625 Pa: kept to the mPa, far
    # below the 34 Pa a step of x0 is on that span.
    payload = bytes([0x02, 0x01, 0x67, 0x00, 0x01]) + (16385).to_bytes(2, "big")
    payload += (17728).to_bytes(2, "big")
    pressure, temperature = PR26.decode(payload, 1, {"pmin": -1, "pmax": 10})
    assert temperature.value == 4.2
    assert pressure.value == -99966.431


@pytest.mark.parametrize(
    "config", [{}, {"pmin": 0.0}, {"pmin": 1, "pmax": 1}, {"pmin": True, "pmax": 2}]
)
def test_pr26_without_a_valid_pressure_range_is_missing_config(config: dict[str, object]) -> None:
    payload = bytes([0x02, 0x01, 0x67, 0x00, 0x03, 0x3E, 0x80, 0x60, 0x17, 0x0C, 0x7F])
    with pytest.raises(CodecError) as caught:
        PR26.decode(payload, 1, config)
    assert caught.value.reason == "missing_config"
    with pytest.raises(CodecError) as caught:  # and so is registering the device
        check_config("decentlab-dl-pr26", config)
    assert caught.value.reason == "missing_config"
    check_config("decentlab-dl-ds18", {})  # DS18 reads no params


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", "too_short"),
        ("01 023D 0003 815E 0C15", "bad_version"),
        ("02 023D 0003 815E", "too_short"),  # flags announce a battery word that is missing
        ("02 023D 0007 815E 0C15 0000", "unknown_record"),  # DS18 has no third sensor
        ("02 023D 0003 815E 0C15 00", "bad_length"),
        ("02 023D 0002 1770", "out_of_range"),  # battery 6.0 V
        ("02 023D 0001 FFFF", "out_of_range"),  # 2047.9 degC
    ],
)
def test_ds18_rejects_malformed_or_unphysical_payloads(payload: str, reason: str) -> None:
    with pytest.raises(CodecError) as caught:
        DS18.decode(bytes.fromhex(payload.replace(" ", "")), 1, {})
    assert caught.value.reason == reason


def test_pr26_rejects_pressure_far_outside_the_transducer_range() -> None:
    # x0 = 0 -> pmin - 0.5 * span, beyond the 10 % tolerance
    payload = bytes([0x02, 0x01, 0x67, 0x00, 0x01, 0x00, 0x00, 0x60, 0x17])
    with pytest.raises(CodecError) as caught:
        PR26.decode(payload, 1, PR26_0_1_BAR)
    assert caught.value.reason == "out_of_range"


def test_decentlab_rejects_other_fports() -> None:
    payload = bytes([0x02, 0x02, 0x3D, 0x00, 0x02, 0x0C, 0x15])
    with pytest.raises(CodecError) as caught:
        DS18.decode(payload, 2, {})
    assert caught.value.reason == "unsupported_port"


def test_ds18_temperature_covers_every_raw_word() -> None:
    accepted = {}
    for raw in range(65536):
        payload = bytes([0x02, 0x02, 0x3D, 0x00, 0x01]) + raw.to_bytes(2, "big")
        try:
            accepted[raw] = DS18.decode(payload, 1, {})[0].value
        except CodecError as error:
            assert error.reason == "out_of_range"
    # -55 .. 125 degC is raw 32768 - 55 * 16 .. 32768 + 125 * 16
    assert accepted == {raw: (raw - 32768) / 16 for raw in range(31888, 34769)}
