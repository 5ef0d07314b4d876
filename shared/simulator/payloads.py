"""Payload encoders: physical conditions in, each vendor's exact uplink bytes out.

Every encoder is the inverse of the matching codec in ``shared.telemetry.codecs`` (see
DEVICES.md for the layouts), so the simulator exercises the real decoders with the byte
layouts real sensors send, negative temperatures and sign extension included. Values are
rounded to each field's resolution and must fit its width: ``struct`` raises rather than
wrapping a value the sensor could not have reported.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

PASCAL_PER_BAR = 100_000.0


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a sensor at one place and time would measure.

    ``water_temperature`` is None where there is no water (school yards, squares): an external
    probe then measures the air, as it does on a sensor mounted outdoors. ``pressure`` is the
    gauge (hydrostatic) pressure at a submerged pressure probe, None elsewhere.
    """

    air_temperature: float  # Cel
    humidity: float  # %RH
    illuminance: float  # lx
    battery: float  # state of charge, 0-1
    water_temperature: float | None = None  # Cel
    pressure: float | None = None  # Pa, gauge

    @property
    def probe_temperature(self) -> float:
        """What an external temperature probe reads: the water if it is in water."""
        return self.air_temperature if self.water_temperature is None else self.water_temperature


EncodeFn = Callable[[Conditions, Mapping[str, Any]], bytes]


@dataclass(frozen=True, slots=True)
class Encoder:
    """One device model's uplink format: its usual FPort and its encoding function."""

    model: str
    fport: int | None  # None: not a LoRaWAN device (JSON over IP)
    encode: EncodeFn

    def __call__(self, conditions: Conditions, params: Mapping[str, Any]) -> bytes:
        return self.encode(conditions, params)


# --- shared byte packing --------------------------------------------------------------------


def _fixed(value: float, scale: float, fmt: str) -> bytes:
    """A fixed-point field: ``round(value * scale)`` packed as ``fmt`` (struct format)."""
    return struct.pack(fmt, round(value * scale))


def _volts(battery: float, full: float, empty: float) -> float:
    """Cell voltage for a state of charge, linear between ``empty`` and ``full``."""
    return empty + (full - empty) * min(max(battery, 0.0), 1.0)


def _percent(battery: float) -> int:
    return round(min(max(battery, 0.0), 1.0) * 100)


# --- Milesight EM300-TH ---------------------------------------------------------------------


def _milesight_em300_th(c: Conditions, params: Mapping[str, Any]) -> bytes:
    """Channel/type records, little-endian: battery %, temperature /10, humidity /2."""
    return b"".join(
        (
            b"\x01\x75" + struct.pack("<B", _percent(c.battery)),
            b"\x03\x67" + _fixed(c.air_temperature, 10, "<h"),
            b"\x04\x68" + _fixed(c.humidity, 2, "<B"),
        )
    )


# --- Elsys ERS, ERS Lite, ELT ---------------------------------------------------------------

_ELSYS_LIGHT_MAX = 0xFFFF  # u16 lux: the ERS light sensor saturates in direct sunlight


def _elsys(c: Conditions, params: Mapping[str, Any], *, light: bool, probe: bool) -> bytes:
    """Type/value records, big-endian, in the order Elsys firmware sends them."""
    records = [
        b"\x01" + _fixed(c.air_temperature, 10, ">h"),
        b"\x02" + struct.pack(">B", round(c.humidity)),
    ]
    if light:
        lux = min(max(round(c.illuminance), 0), _ELSYS_LIGHT_MAX)
        records.append(b"\x04" + struct.pack(">H", lux))
    records.append(b"\x07" + _fixed(_volts(c.battery, 3.65, 3.0), 1000, ">H"))
    if probe:
        records.append(b"\x0c" + _fixed(c.probe_temperature, 10, ">h"))
    return b"".join(records)


# --- Dragino LHT65 --------------------------------------------------------------------------

_LHT65_EXT_DS18B20 = 0x01
_LHT65_NO_READING = b"\x7f\xff"  # bytes 9-10 with a DS18B20: the vendor fills 0x7FFF


def _lht65_battery_status(volts: float) -> int:
    """Top two bits of bytes 0-1 (LHT65 manual 2.4.1): 3 good ... 0 ultra low."""
    for status, threshold in ((3, 2.65), (2, 2.55), (1, 2.50)):
        if volts >= threshold:
            return status
    return 0


def _dragino_lht65(c: Conditions, params: Mapping[str, Any]) -> bytes:
    """11 bytes BE: status|BatV mV, SHT temperature /100, humidity /10, DS18B20 probe /100."""
    volts = _volts(c.battery, 3.1, 2.45)
    battery = _lht65_battery_status(volts) << 14 | round(volts * 1000)
    return b"".join(
        (
            struct.pack(">H", battery),
            _fixed(c.air_temperature, 100, ">h"),
            _fixed(c.humidity, 10, ">H"),
            struct.pack(">B", _LHT65_EXT_DS18B20),
            _fixed(c.probe_temperature, 100, ">h"),
            _LHT65_NO_READING,
        )
    )


# --- Dragino LSN50v2-D20 --------------------------------------------------------------------

_LSN50_FLAGS_MODE_0 = 0x00  # mode 0 in bits 2-6; door, digital input and EXTI pins unwired


def _dragino_lsn50v2_d20(c: Conditions, params: Mapping[str, Any]) -> bytes:
    """11 bytes BE: BatV mV, probe /10, ADC mV (0: nothing wired), flags (mode 0), SHT
    temperature and humidity."""
    return b"".join(
        (
            _fixed(_volts(c.battery, 3.65, 3.0), 1000, ">H"),
            _fixed(c.probe_temperature, 10, ">h"),
            struct.pack(">H", 0),
            struct.pack(">B", _LSN50_FLAGS_MODE_0),
            _fixed(c.air_temperature, 10, ">h"),
            _fixed(c.humidity, 10, ">H"),
        )
    )


# --- Decentlab protocol v2 ------------------------------------------------------------------

_DECENTLAB_VERSION = 2


def _decentlab_frame(*sensors: tuple[int, ...]) -> bytes:
    """Version, device id (0: the codec knows the device by its EUI, not this), flags (every
    sensor present), then each sensor's u16 words."""
    words = [word for sensor in sensors for word in sensor]
    flags = (1 << len(sensors)) - 1
    header = struct.pack(">BHH", _DECENTLAB_VERSION, 0, flags)
    return header + struct.pack(f">{len(words)}H", *words)


def _decentlab_battery(c: Conditions) -> tuple[int]:
    return (round(_volts(c.battery, 3.1, 2.5) * 1000),)


def _decentlab_dl_ds18(c: Conditions, params: Mapping[str, Any]) -> bytes:
    """DL-DS18: temperature word ``t * 16 + 32768``, battery word in mV."""
    return _decentlab_frame((round(c.probe_temperature * 16) + 32768,), _decentlab_battery(c))


def _decentlab_dl_pr26(c: Conditions, params: Mapping[str, Any]) -> bytes:
    """DL-PR26: pressure scaled into [16384, 49152] over [pmin, pmax] bar, liquid temperature
    ``(t + 50) / 0.003125 + 384``, battery mV."""
    if c.pressure is None:
        raise ValueError("a DL-PR26 needs a water pressure in its conditions")
    pmin, pmax = float(params["pmin"]), float(params["pmax"])
    bar = c.pressure / PASCAL_PER_BAR
    pressure_word = round((bar - pmin) / (pmax - pmin) * 32768 + 16384)
    temperature_word = round((c.probe_temperature + 50) / 0.003125 + 384)
    return _decentlab_frame((pressure_word, temperature_word), _decentlab_battery(c))


# --- JSON over IP ---------------------------------------------------------------------------


def _json_device(c: Conditions, params: Mapping[str, Any]) -> bytes:
    """A compact UTF-8 JSON object of Smartby quantity names, as an IP weather station sends."""
    document: dict[str, float]
    if c.water_temperature is None:
        document = {"temperature": round(c.air_temperature, 2), "humidity": round(c.humidity, 1)}
    else:
        document = {"probe_temperature": round(c.water_temperature, 2)}
    document["battery"] = _percent(c.battery)
    return json.dumps(document, separators=(",", ":")).encode()


ENCODERS: Mapping[str, Encoder] = MappingProxyType(
    {
        encoder.model: encoder
        for encoder in (
            Encoder("milesight-em300-th", 85, _milesight_em300_th),
            Encoder("elsys-ers", 5, partial(_elsys, light=True, probe=False)),
            Encoder("elsys-ers-lite", 5, partial(_elsys, light=False, probe=False)),
            Encoder("elsys-elt", 5, partial(_elsys, light=False, probe=True)),
            Encoder("dragino-lht65", 2, _dragino_lht65),
            Encoder("dragino-lsn50v2-d20", 2, _dragino_lsn50v2_d20),
            Encoder("decentlab-dl-ds18", 1, _decentlab_dl_ds18),
            Encoder("decentlab-dl-pr26", 1, _decentlab_dl_pr26),
            Encoder("json", None, _json_device),
        )
    }
)
