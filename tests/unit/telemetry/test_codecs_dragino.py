"""Dragino LHT65 and LSN50v2-D20 codecs against the examples in TheThingsNetwork/lorawan-devices
(vendor/dragino/lht65-codec.yaml, lsn50v2-d20-codec.yaml) and the LHT65 user manual."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.telemetry.codecs import CodecError, Measurement, check_config, get_codec

LHT65 = get_codec("dragino-lht65")
LSN50 = get_codec("dragino-lsn50v2-d20")


def lht65(hex_payload: str, fport: int = 2) -> list[Measurement]:
    return LHT65.decode(bytes.fromhex(hex_payload.replace(" ", "")), fport, {})


def lsn50(hex_payload: str, fport: int = 2, **config: object) -> list[Measurement]:
    return LSN50.decode(bytes.fromhex(hex_payload.replace(" ", "")), fport, config)


# --- LHT65 ---------------------------------------------------------------------------------


def test_lht65_decodes_ttn_example_with_ds18b20_probe() -> None:
    # lht65-codec.yaml: BatV 3.062, TempC_SHT 28.29, Hum_SHT 88.6, TempC_DS 27.81
    assert lht65("CBF6 0B0D 0376 01 0ADD 7FFF") == [
        Measurement("battery_voltage", 3.062, "V"),
        Measurement("temperature", 28.29, "Cel"),
        Measurement("humidity", 88.6, "%RH"),
        Measurement("probe_temperature", 27.81, "Cel", probe=True),
    ]


def test_lht65_decodes_manual_negative_probe_temperature() -> None:
    # LHT65 manual 2.4.7: DS18B20 temp = (0xF54F - 65536) / 100 = -27.37
    assert lht65("CBF6 0B0D 0376 01 F54F 7FFF")[-1] == Measurement(
        "probe_temperature", -27.37, "Cel", probe=True
    )


def test_lht65_decodes_negative_air_temperature() -> None:
    # 0xFC18 = -1000 -> -10.00 degC
    assert lht65("CBF6 FC18 0376 00 7FFF 7FFF")[1] == Measurement("temperature", -10.0, "Cel")


def test_lht65_omits_probe_that_reports_no_reading() -> None:
    # manual: "no DS18B20 connected ... set to 7FFF which is 327.67"
    quantities = [m.quantity for m in lht65("CBF6 0B0D 0376 01 7FFF 7FFF")]
    assert quantities == ["battery_voltage", "temperature", "humidity"]


def test_lht65_omits_probe_when_cable_flag_says_not_connected() -> None:
    quantities = [m.quantity for m in lht65("CBF6 0B0D 0376 81 0ADD 7FFF")]
    assert "probe_temperature" not in quantities


def test_lht65_timestamp_mode_dates_every_reading() -> None:
    # ext 9: probe temperature in bytes 0-1, Unix time 1767225600 (2026-01-01) in bytes 7-10
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert lht65("FF9C 0B0D 8376 09 6955B900") == [
        Measurement("probe_temperature", -1.0, "Cel", probe=True, time=at),
        Measurement("temperature", 28.29, "Cel", time=at),
        Measurement("humidity", 88.6, "%RH", time=at),
    ]


def test_lht65_decodes_illuminance_and_adc_external_sensors() -> None:
    assert lht65("CBF6 0B0D 0376 05 01F4 0000")[-1] == Measurement("illuminance", 500.0, "lx")
    assert lht65("CBF6 0B0D 0376 06 0BB8 0000")[-1] == Measurement("analog_voltage", 3.0, "V")


def test_lht65_rejects_other_fports() -> None:
    # lht65-codec.yaml: the same bytes on FPort 42 -> "unknown FPort"
    with pytest.raises(CodecError) as caught:
        lht65("CBF6 0B0D 0376 01 0ADD 7FFF", fport=42)
    assert caught.value.reason == "unsupported_port"


@pytest.mark.parametrize("ext", ["04 0100 0000", "07 0005 0000", "08 0000 0005"])
def test_lht65_interrupt_and_counter_frames_give_their_built_in_readings(ext: str) -> None:
    # Dragino's decoder on CBF6FF9C01F4 + these: BatV 3.062, TempC_SHT -1, Hum_SHT 50.
    assert [(m.quantity, m.value) for m in lht65("CBF6 FF9C 01F4 " + ext)] == [
        ("battery_voltage", 3.062), ("temperature", -1.0), ("humidity", 50.0),
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("CBF6 0B0D 0376 01 0ADD", "too_short"),
        ("CBF6 0B0D 0376 01 0ADD 7FFF 00", "bad_length"),
        ("CBF6 0B0D 0376 0F 0100 0000", "unsupported_mode"),  # the ID frame
        ("CBF6 0B0D 0376 03 0100 0000", "unsupported_mode"),  # no such type
        ("CBF6 0B0D 0376 41 0ADD 7FFF", "unsupported_mode"),  # datalog poll reply
        ("CBF6 0B0D 0FFF 00 0000 0000", "out_of_range"),  # humidity 409.5 %
        ("CBF6 2328 0376 00 0000 0000", "out_of_range"),  # air 90.00 degC
        ("CBF6 0B0D 0376 01 3200 0000", "out_of_range"),  # probe 128.00 degC
        ("FFFF 0B0D 0376 00 0000 0000", "out_of_range"),  # battery 16.383 V
    ],
)
def test_lht65_rejects_malformed_or_unphysical_payloads(payload: str, reason: str) -> None:
    with pytest.raises(CodecError) as caught:
        lht65(payload)
    assert caught.value.reason == reason


def test_lht65_probe_is_sign_extended_for_every_raw_value() -> None:
    accepted = {}
    for raw in range(-32768, 32767):  # 0x7FFF, "no reading", is tested above
        payload = bytes.fromhex("CBF60B0D037601") + raw.to_bytes(2, "big", signed=True) + b"\0\0"
        try:
            accepted[raw] = LHT65.decode(payload, 2, {})[-1].value
        except CodecError as error:
            assert error.reason == "out_of_range"
    assert accepted == {raw: raw / 100 for raw in range(-5500, 12501)}  # -55 .. 125 degC


# --- LSN50v2-D20 ---------------------------------------------------------------------------


def test_lsn50_decodes_ttn_example() -> None:
    # lsn50v2-d20-codec.yaml: BatV 2.9, TempC1 0, ADC 0, TempC_SHT 25.2, Hum_SHT 51.7, mode 0
    assert lsn50("0B54 0000 0000 00 00FC 0205") == [
        Measurement("battery_voltage", 2.9, "V"),
        Measurement("probe_temperature", 0.0, "Cel", probe=True),
        Measurement("temperature", 25.2, "Cel"),
        Measurement("humidity", 51.7, "%RH"),
    ]


def test_lsn50_reports_wired_inputs_only_when_configured() -> None:
    # Same example: Door_status OPEN (bit 7 clear), Digital_IStatus L, ADC_CH0V 0
    measurements = lsn50(
        "0B54 0000 0000 00 00FC 0205",
        wired_inputs=["analog_voltage", "door_open", "digital_input"],
    )
    assert measurements[2:5] == [
        Measurement("analog_voltage", 0.0, "V"),
        Measurement("door_open", 1.0, "/"),
        Measurement("digital_input", 0.0, "/"),
    ]


@pytest.mark.parametrize(
    "wired",
    [True, 1, "door_open", ["door_open", "garage"], [1], {"door_open": True},
     ["door_open", "door_open"]],  # a pin twice is a mistake too, and would only grow the list
)
def test_lsn50_refuses_wired_inputs_it_cannot_read(wired: object) -> None:
    """A text is no list (its letters would match no pin), and an unknown pin is a typo:
    both are refused, at registration and (for a device registered before) on decode."""
    with pytest.raises(CodecError) as refused:
        check_config("dragino-lsn50v2-d20", {"wired_inputs": wired})
    assert refused.value.reason == "bad_config"
    with pytest.raises(CodecError) as refused:
        lsn50("0B54 0000 0000 00 00FC 0205", wired_inputs=wired)
    assert refused.value.reason == "bad_config"


def test_lsn50_reads_closed_door_and_high_digital_input() -> None:
    flags = 0x80 | 0x02  # door closed, digital input high, mode 0
    measurements = lsn50(f"0B54 00E1 04D2 {flags:02X} 0000 0000", wired_inputs=["door_open"])
    assert measurements == [
        Measurement("battery_voltage", 2.9, "V"),
        Measurement("probe_temperature", 22.5, "Cel", probe=True),
        Measurement("door_open", 0.0, "/"),
    ]


def test_lsn50_decodes_negative_probe_temperature() -> None:
    assert lsn50("0B54 FF9C 0000 00 0000 0000") == [
        Measurement("battery_voltage", 2.9, "V"),
        Measurement("probe_temperature", -10.0, "Cel", probe=True),
    ]


def test_lsn50_without_i2c_sensor_keeps_battery_and_probe() -> None:
    # Dragino firmware (src/bsp.c): no SHT answering sends 6553.5 for both values, FFFF FFFF
    # (or 3276.7 and 6553.5, 7FFF FFFF, in later builds)
    for no_sensor in ("FFFF FFFF", "7FFF FFFF"):
        assert lsn50(f"0B54 00E1 0000 00 {no_sensor}") == [
            Measurement("battery_voltage", 2.9, "V"),
            Measurement("probe_temperature", 22.5, "Cel", probe=True),
        ]


def test_lsn50_unanswered_probe_is_no_reading_but_keeps_the_frame() -> None:
    # Dragino firmware (src/ds18b20.c): a DS18B20 that does not answer is sent as 3276.7
    assert lsn50("0B54 7FFF 0000 00 00FC 0205") == [
        Measurement("battery_voltage", 2.9, "V"),
        Measurement("temperature", 25.2, "Cel"),
        Measurement("humidity", 51.7, "%RH"),
    ]


def test_lsn50_reads_bh1750_illuminance_when_humidity_word_is_zero() -> None:
    assert lsn50("0B54 00E1 0000 00 9C40 0000")[-1] == Measurement("illuminance", 40000.0, "lx")


@pytest.mark.parametrize(
    ("payload", "fport", "reason"),
    [
        ("0B54 0000 0000 00 00FC 0205", 42, "unsupported_port"),  # codec yaml: unknown FPort
        ("0B54 0000 0000 00 00FC", 2, "too_short"),
        ("0B54 0000 0000 0C 0000 0000", 2, "unsupported_mode"),  # mode 3: three probes
        ("0B54 7FFE 0000 00 0000 0000", 2, "out_of_range"),  # probe 3276.6 degC
        ("0B54 0000 0000 00 00FC 03E9", 2, "out_of_range"),  # humidity 100.1 %
        ("1770 0000 0000 00 0000 0000", 2, "out_of_range"),  # battery 6.0 V
    ],
)
def test_lsn50_rejects_malformed_or_unphysical_payloads(
    payload: str, fport: int, reason: str
) -> None:
    with pytest.raises(CodecError) as caught:
        lsn50(payload, fport)
    assert caught.value.reason == reason


def test_lsn50_probe_is_sign_extended_for_every_raw_value() -> None:
    accepted = {}
    for raw in range(-32768, 32767):  # 0x7FFF, "no reading", is tested above
        payload = b"\x0b\x54" + raw.to_bytes(2, "big", signed=True) + bytes(7)
        try:
            accepted[raw] = LSN50.decode(payload, 2, {})[1].value
        except CodecError as error:
            assert error.reason == "out_of_range"
    assert accepted == {raw: raw / 10 for raw in range(-550, 1251)}  # -55.0 .. 125.0 degC
