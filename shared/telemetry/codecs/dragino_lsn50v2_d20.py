"""Dragino LSN50v2-D20: an LSN50v2 node with one DS18B20 temperature probe.

Eleven big-endian bytes on FPort 2 in working mode 0 (the D20 default), after Dragino's decoder
(TheThingsNetwork/lorawan-devices, vendor/dragino/lsn50v2-d20.js):

    0-1  battery, u16 mV              2-3  probe temperature, int16 / 10 degC
    4-5  ADC channel 0, u16 mV        6    flags: bit 7 door switch (1 = closed), mode in
                                           bits 2-6, bit 1 digital input level, bit 0 EXTI
    7-10 optional I2C sensor: SHT temperature int16 / 10 and humidity u16 / 10, or, when
         bytes 9-10 are zero, a BH1750 illuminance u16 in lux at 7-8; humidity 0xFFFF is no
         SHT sensor (Dragino's firmware, dragino/LoRa_STM32 src/bsp.c, sends 6553.5 for both
         values when none answers, so a plain D20 sends FFFF FFFF)

Other working modes (distance, 3 ADC, 3 probes, weight, counting, alarm settings) reuse the
bytes differently and are rejected as 'unsupported_mode'.

On a D20 the ADC, door and digital-input pins are normally not wired, and the vendor decoder
reports them regardless (an unwired door pin reads "OPEN"). So they are emitted only when the
device configuration lists them under ``wired_inputs`` (any of "analog_voltage", "door_open",
"digital_input"). Likewise bytes 7-10 all zero mean no I2C sensor, not 0 lux.

A DS18B20 that does not answer (no probe, cable cut, CRC error) is sent as 0x7FFF (3276.7
degC, firmware src/ds18b20.c): no probe reading, while the rest of the frame is kept. Known
limitation: firmware before that change sent 0x0000 (0.0 degC), which cannot be told apart
from a real 0.0 degC reading (dragino/LoRa_STM32 issue 13).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from shared.telemetry.codecs import CodecError, Measurement
from shared.telemetry.codecs._binary import expect_length, expect_port
from shared.telemetry.codecs.quantities import (
    ANALOG_VOLTAGE,
    BATTERY_VOLTAGE,
    DIGITAL_INPUT,
    DOOR_OPEN,
    HUMIDITY,
    ILLUMINANCE,
    PROBE_TEMPERATURE,
    TEMPERATURE,
)

WIRED_INPUTS = frozenset({ANALOG_VOLTAGE.quantity, DOOR_OPEN.quantity, DIGITAL_INPUT.quantity})

#: The whole mode-0 frame in one unpack: battery, probe, ADC, flags, then bytes 7-8 as int16
#: (SHT temperature, or lux when 9-10 are zero) and 9-10 as u16 (SHT humidity).
_FRAME = struct.Struct(">HhHBhH")
_NO_PROBE_READING = 0x7FFF
_NO_SHT_SENSOR = 0xFFFF


def wired_inputs(config: Mapping[str, Any]) -> frozenset[str]:
    """The pins the device configuration says are wired (none unless listed)."""
    wired = config.get("wired_inputs", [])
    if not isinstance(wired, list) or not all(isinstance(w, str) for w in wired) or not (
        WIRED_INPUTS.issuperset(wired) and len(set(wired)) == len(wired)
    ):
        raise CodecError(
            "bad_config",
            f"wired_inputs must be a list of {', '.join(sorted(WIRED_INPUTS))}, each once",
        )
    return frozenset(wired)


class DraginoLsn50v2D20:
    model = "dragino-lsn50v2-d20"
    params = frozenset({"wired_inputs"})

    def check_config(self, config: Mapping[str, Any]) -> None:
        wired_inputs(config)

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        expect_port(fport, 2)
        expect_length(payload, 11)
        battery, probe, adc, flags, i2c_first, i2c_second = _FRAME.unpack(payload)
        mode = (flags & 0x7C) >> 2
        if mode != 0:
            raise CodecError("unsupported_mode", f"working mode {mode} (only mode 0 is decoded)")

        measurements = [BATTERY_VOLTAGE(battery / 1000)]
        if probe != _NO_PROBE_READING:
            measurements.append(PROBE_TEMPERATURE(probe / 10))
        wired = wired_inputs(config)
        if wired:
            if ANALOG_VOLTAGE.quantity in wired:
                measurements.append(ANALOG_VOLTAGE(adc / 1000))
            if DOOR_OPEN.quantity in wired:
                measurements.append(DOOR_OPEN(0.0 if flags & 0x80 else 1.0))
            if DIGITAL_INPUT.quantity in wired:
                measurements.append(DIGITAL_INPUT(1.0 if flags & 0x02 else 0.0))

        if i2c_second == _NO_SHT_SENSOR:
            return measurements  # no I2C sensor answered
        if i2c_second:
            measurements.append(TEMPERATURE(i2c_first / 10))
            measurements.append(HUMIDITY(i2c_second / 10))
        elif i2c_first:
            # The vendor decoder reads lux as int16; BH1750 lux is unsigned, so read it as such.
            measurements.append(ILLUMINANCE(i2c_first & 0xFFFF))
        return measurements


CODEC = DraginoLsn50v2D20()
