"""The quantities Smartby measures: one name, one SenML unit and one physical range each.

Range checks are the codecs' main defence against a payload decrypted with the wrong key or
mangled on the way: random bytes almost never land inside every field's physical range, so such
a payload is rejected ('out_of_range') instead of being stored as a plausible reading. A codec
whose sensor has a different range derives its own spec with ``dataclasses.replace``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeGuard

from shared.telemetry.codecs import CodecError, Measurement

_new_tuple = tuple.__new__
STANDARD_GRAVITY = 9.80665  # m/s2 per g

# Device clocks before this are unset or drifting (factory default), not real history.
EARLIEST_DEVICE_TIME = datetime(2015, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Spec:
    """Name, unit and accepted physical range of one quantity."""

    quantity: str
    unit: str
    low: float
    high: float
    probe: bool = False

    def __call__(self, value: float, time: datetime | None = None) -> Measurement:
        """Return the measurement, or raise CodecError('out_of_range') (NaN included)."""
        if not self.low <= value <= self.high:
            raise CodecError(
                "out_of_range",
                f"{self.quantity} {value:g} {self.unit} outside [{self.low:g}, {self.high:g}]",
            )
        # tuple.__new__ skips the NamedTuple's Python-level __new__: a third of this call's cost.
        return _new_tuple(Measurement, (self.quantity, float(value), self.unit, self.probe, time))


TEMPERATURE = Spec("temperature", "Cel", -40.0, 85.0)  # air/internal sensors (SHT2x/3x class)
PROBE_TEMPERATURE = Spec("probe_temperature", "Cel", -55.0, 125.0, probe=True)  # DS18B20 range
LIQUID_TEMPERATURE = Spec("liquid_temperature", "Cel", -40.0, 85.0, probe=True)
HUMIDITY = Spec("humidity", "%RH", 0.0, 100.0)
BATTERY = Spec("battery", "%EL", 0.0, 100.0)
BATTERY_VOLTAGE = Spec("battery_voltage", "V", 0.0, 5.0)
ILLUMINANCE = Spec("illuminance", "lx", 0.0, 150_000.0)  # direct sunlight is ~120 klx
CO2 = Spec("co2", "ppm", 0.0, 10_000.0)  # NDIR indoor sensors' measuring range
PRESSURE = Spec("pressure", "Pa", 26_000.0, 126_000.0)  # barometric, 260-1260 hPa
MOTION = Spec("motion", "count", 0.0, 4_294_967_295.0)
WATER_LEAK = Spec("water_leak", "/", 0.0, 1.0)
ACCELERATION_X = Spec("acceleration_x", "m/s2", -16 * STANDARD_GRAVITY, 16 * STANDARD_GRAVITY)
ACCELERATION_Y = Spec("acceleration_y", "m/s2", -16 * STANDARD_GRAVITY, 16 * STANDARD_GRAVITY)
ACCELERATION_Z = Spec("acceleration_z", "m/s2", -16 * STANDARD_GRAVITY, 16 * STANDARD_GRAVITY)
ANALOG_VOLTAGE = Spec("analog_voltage", "V", 0.0, 30.0)  # covers 0-10 V industrial inputs
DOOR_OPEN = Spec("door_open", "/", 0.0, 1.0)
DIGITAL_INPUT = Spec("digital_input", "/", 0.0, 1.0)

SPECS: MappingProxyType[str, Spec] = MappingProxyType(
    {
        spec.quantity: spec
        for spec in (
            TEMPERATURE,
            PROBE_TEMPERATURE,
            LIQUID_TEMPERATURE,
            HUMIDITY,
            BATTERY,
            BATTERY_VOLTAGE,
            ILLUMINANCE,
            CO2,
            PRESSURE,
            MOTION,
            WATER_LEAK,
            ACCELERATION_X,
            ACCELERATION_Y,
            ACCELERATION_Z,
            ANALOG_VOLTAGE,
            DOOR_OPEN,
            DIGITAL_INPUT,
        )
    }
)


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite real number that fits a float; bool is excluded though Python counts it an int."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) if isinstance(value, float) else abs(value) <= sys.float_info.max


def device_time(unix_seconds: float) -> datetime:
    """Turn a device-reported Unix time into UTC, rejecting clocks that were never set."""
    try:
        moment = datetime.fromtimestamp(unix_seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise CodecError("out_of_range", f"device time {unix_seconds!r} is not a date") from None
    return checked_time(moment)


def checked_time(moment: datetime) -> datetime:
    """A tz-aware device time in UTC, or CodecError('out_of_range') if the clock was unset."""
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00: past the calendar in UTC
        raise CodecError("out_of_range", "device time is outside the calendar in UTC") from None
    if moment < EARLIEST_DEVICE_TIME:
        raise CodecError("out_of_range", f"device time {moment.isoformat()} is before 2015")
    return moment
