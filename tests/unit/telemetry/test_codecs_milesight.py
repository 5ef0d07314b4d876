"""Milesight EM300-TH codec against Milesight's and TTN's published examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.telemetry.codecs import CodecError, Measurement, get_codec

CODEC = get_codec("milesight-em300-th")


def decode(hex_payload: str) -> list[Measurement]:
    return CODEC.decode(bytes.fromhex(hex_payload), 85, {})


def test_em300_decodes_milesight_readme_example() -> None:
    # Milesight-IoT/SensorDecoders EM_Series/EM300_Series/EM300-TH/README.md:
    # 01755C 03673401 046865 -> battery 92, temperature 30.8, humidity 50.5
    assert decode("01755C03673401046865") == [
        Measurement("battery", 92.0, "%EL"),
        Measurement("temperature", 30.8, "Cel"),
        Measurement("humidity", 50.5, "%RH"),
    ]


def test_em300_decodes_ttn_codec_example() -> None:
    # TheThingsNetwork/lorawan-devices vendor/milesight-iot/em300-th-codec.yaml
    assert decode("017532 0367C800 04683C".replace(" ", "")) == [
        Measurement("battery", 50.0, "%EL"),
        Measurement("temperature", 20.0, "Cel"),
        Measurement("humidity", 30.0, "%RH"),
    ]


def test_em300_decodes_history_record_with_device_time() -> None:
    # Milesight README: 20CE9E74466310015D00 -> timestamp 1665561758, 27.2 degC, 46.5 %RH
    at = datetime.fromtimestamp(1665561758, UTC)
    assert decode("20CE9E74466310015D00") == [
        Measurement("temperature", 27.2, "Cel", time=at),
        Measurement("humidity", 46.5, "%RH", time=at),
    ]


def test_em300_decodes_negative_temperature() -> None:
    # int16 little-endian 0xFF9C = -100 -> -10.0 degC
    assert decode("03679CFF") == [Measurement("temperature", -10.0, "Cel")]


def test_em300_skips_device_information_records_sent_after_join() -> None:
    # ipso version, hardware/firmware version, serial number, class, status, then a reading
    payload = "FF0101 FF090140 FF0A0114 FF166136C40591640000 FF0F00 FF0B01 01755C"
    assert decode(payload.replace(" ", "")) == [Measurement("battery", 92.0, "%EL")]


@pytest.mark.parametrize(
    "payload",
    [
        "FF03B004 01755C",  # report interval 1200 s, on FF
        "FE02B004 01755C",  # collection interval 1200 s, on FE
        "FE06 0B 6400 C800 00000000 01755C",  # temperature alarm config: 9 bytes
        "FF10FF FE27FF FE28FF FE68 01 FE69 01 FE6A 00B004 FE6DFF 01755C",
        "FE79 01 00 0000 0000 FEEA 80 0A00 01755C",  # D2D master config, calibration
    ],
)
def test_em300_skips_replies_to_configuration_downlinks(payload: str) -> None:
    # Milesight's EM300-TH decoder, handle_downlink_response: FE or FF, then the setting
    assert decode(payload.replace(" ", "")) == [Measurement("battery", 92.0, "%EL")]


def test_em300_rejects_unknown_record() -> None:
    with pytest.raises(CodecError) as caught:
        decode("01755C 0599 00".replace(" ", ""))
    assert caught.value.reason == "unknown_record"


@pytest.mark.parametrize("payload", ["", "01", "0367", "036734", "20CE9E744663"])
def test_em300_rejects_truncated_payload(payload: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode(payload)
    assert caught.value.reason == "too_short"


@pytest.mark.parametrize(
    "payload",
    [
        "0367E803",  # 100.0 degC
        "036766FE",  # -41.0 degC
        "0468CA",  # 101 %RH
        "017565",  # battery 101 %
    ],
)
def test_em300_rejects_values_outside_physical_range(payload: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode(payload)
    assert caught.value.reason == "out_of_range"


def test_em300_rejects_history_from_a_clock_that_was_never_set() -> None:
    with pytest.raises(CodecError) as caught:
        decode("20CE0000000010015D00")  # 1970-01-01
    assert caught.value.reason == "out_of_range"


def test_em300_temperature_is_sign_extended_for_every_raw_value() -> None:
    accepted = {}
    for raw in range(-32768, 32768):
        payload = b"\x03\x67" + raw.to_bytes(2, "little", signed=True)
        try:
            accepted[raw] = CODEC.decode(payload, 85, {})[0].value
        except CodecError as error:
            assert error.reason == "out_of_range"
    assert accepted == {raw: raw / 10 for raw in range(-400, 851)}  # -40.0 .. 85.0 degC
