"""Deterministic weather and lake curves for the Vestfold and Drammen coast (about 59 degN).

Every function is pure: time is an argument (tz-aware), randomness is a hash of (seed, channel,
knot index), so the same seed always gives the same curve, in any call order and any process,
and two lakes or sites with different seeds drift apart. Noise is value noise (random knots,
smoothly interpolated), so consecutive readings look like a real sensor's, not like dice.

Shapes, from Norwegian observations rather than precision:
- lakes: ice from late December to April keeps the surface at about 0.5-4 degC; after ice-off
  the surface warms to 18-22 degC in late July and cools through autumn turnover (~4 degC);
- air: seasonal mean from about -2 degC (late January) to 17 degC (late July), a diurnal swing
  of +-3-5 degC peaking at ~14:00 local time, and weather fronts of several degrees over days;
- humidity from a dew point that follows the daily mean, so it is high at night and low in the
  afternoon (anti-correlated with temperature);
- daylight from the sun's elevation, with clouds.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

Seed = int | str

OSLO = ZoneInfo("Europe/Oslo")
LATITUDE = 59.1  # Sandefjord-Drammen, degrees north
LONGITUDE = 10.2  # degrees east
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_YEAR_DAYS = 365.2425
_DAY_S = 86_400.0

# Surface temperature of a typical Ostlandet lake: (day of year, degC).
_LAKE_CURVE = (
    (0, 2.0), (31, 1.6), (59, 1.5), (90, 2.4), (110, 5.0), (135, 10.0), (161, 15.0),
    (182, 18.2), (206, 20.0), (227, 19.2), (253, 15.5), (283, 10.5), (314, 6.0), (339, 3.5),
)  # fmt: skip
_LAKE_PEAK = 20.0
_LAKE_ICE = 1.5
# Level relative to the mean, metres: snowmelt flood in May, low in August, autumn rain.
_LEVEL_CURVE = (
    (0, 0.0), (75, -0.1), (110, 0.2), (135, 0.5), (160, 0.3), (200, -0.1), (228, -0.3),
    (270, -0.1), (305, 0.2), (340, 0.1),
)  # fmt: skip
_MAGNUS_B, _MAGNUS_C = 17.625, 243.04  # Magnus formula over water (Alduchov and Eskridge)


def derive_bytes(size: int, *parts: object) -> bytes:
    """``size`` bytes fixed by ``parts``: the simulator's only source of randomness.

    BLAKE2b rather than ``random`` or ``hash()``, so the value is the same in every process
    (``hash()`` of a str is salted per process) and independent of call order.
    """
    text = "|".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=size).digest()


def hashed_uniform(seed: Seed, channel: str, index: int) -> float:
    """A deterministic pseudo-random number in [-1, 1) for (seed, channel, index)."""
    return int.from_bytes(derive_bytes(8, seed, channel, index), "big") / 2**63 - 1.0


def _noise(seed: Seed, channel: str, x: float) -> float:
    """Value noise in [-1, 1]: random knots at integer ``x``, cosine-interpolated."""
    knot = math.floor(x)
    weight = (1 - math.cos(math.pi * (x - knot))) / 2
    before, after = hashed_uniform(seed, channel, knot), hashed_uniform(seed, channel, knot + 1)
    return before + (after - before) * weight


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("climate curves need a timezone-aware time")
    return t.astimezone(UTC)


def _days(t: datetime) -> float:
    """Days since the curves' epoch: the continuous axis every noise channel runs on."""
    return (_utc(t) - _EPOCH).total_seconds() / _DAY_S


def _day_of_year(t: datetime) -> float:
    """Fractional day of the (mean Gregorian) year, continuous across New Year."""
    return _days(t) % _YEAR_DAYS


def _local_hour(t: datetime) -> float:
    local = _utc(t).astimezone(OSLO)
    return local.hour + local.minute / 60 + local.second / 3600


def _periodic_curve(knots: tuple[tuple[float, float], ...], day: float) -> float:
    """Cubic Hermite interpolation through yearly knots, wrapping at New Year (C1 smooth)."""
    xs = [x for x, _ in knots]
    ys = [y for _, y in knots]
    n = len(knots)

    def point(i: int) -> tuple[float, float]:
        laps, j = divmod(i, n)
        return xs[j] + laps * _YEAR_DAYS, ys[j]

    i = bisect.bisect_right(xs, day) - 1
    (x0, y0), (x1, y1) = point(i), point(i + 1)
    (xp, yp), (xn, yn) = point(i - 1), point(i + 2)
    m0, m1 = (y1 - yp) / (x1 - xp), (yn - y0) / (xn - x0)
    h = x1 - x0
    s = (day - x0) / h
    s2, s3 = s * s, s * s * s
    return (
        (2 * s3 - 3 * s2 + 1) * y0
        + (s3 - 2 * s2 + s) * h * m0
        + (-2 * s3 + 3 * s2) * y1
        + (s3 - s2) * h * m1
    )


def _summerness(t: datetime) -> float:
    """0 in late January, 1 in late July: how far the year is into its warm half."""
    return (1 - math.cos(2 * math.pi * (_day_of_year(t) - 22) / _YEAR_DAYS)) / 2


# --- water -----------------------------------------------------------------------------------


def lake_temperature(t: datetime, lake_seed: Seed) -> float:
    """Surface water temperature of a lake or river at ``t``, degC (always above freezing)."""
    base = _periodic_curve(_LAKE_CURVE, _day_of_year(t))
    open_water = min(max((base - _LAKE_ICE) / (_LAKE_PEAK - _LAKE_ICE), 0.0), 1.0)
    days = _days(t)
    lake_offset = 1.0 * hashed_uniform(lake_seed, "lake-offset", 0) * open_water
    drift = (0.3 + 1.0 * open_water) * _noise(lake_seed, "lake-drift", days / 4)
    diurnal = 0.4 * open_water * math.cos(2 * math.pi * (_local_hour(t) - 16) / 24)
    return max(base + lake_offset + drift + diurnal, 0.2)


def water_level(t: datetime, lake_seed: Seed) -> float:
    """Water level relative to the mean, metres: spring flood, summer low, autumn rain."""
    seasonal = _periodic_curve(_LEVEL_CURVE, _day_of_year(t))
    return seasonal + 0.1 * _noise(lake_seed, "level", _days(t) / 5)


# --- air -------------------------------------------------------------------------------------


def _air_components(t: datetime, site_seed: Seed) -> tuple[float, float]:
    """(temperature without the diurnal cycle, diurnal deviation), degC."""
    summer = _summerness(t)
    days = _days(t)
    seasonal = -2.0 + 19.0 * summer
    fronts = (5.0 - 2.0 * summer) * _noise("region", "fronts", days / 3)  # shared by the region
    local = 0.7 * hashed_uniform(site_seed, "site-offset", 0) + _noise(site_seed, "gusts", days * 2)
    swing = (3.0 + 2.0 * summer) * math.cos(2 * math.pi * (_local_hour(t) - 14) / 24)
    return seasonal + fronts + local, swing


def air_temperature(t: datetime, site_seed: Seed) -> float:
    """Air temperature at a coastal site at ``t``, degC."""
    daily, swing = _air_components(t, site_seed)
    return daily + swing


def relative_humidity(t: datetime, site_seed: Seed) -> float:
    """Relative humidity, %RH, from a dew point that follows the daily mean temperature."""
    daily, swing = _air_components(t, site_seed)
    depression = 1.5 + 3.0 * _summerness(t) + 1.5 * (1 + _noise(site_seed, "dryness", _days(t)))
    dew_point = daily - depression
    temperature = daily + swing

    def saturation(celsius: float) -> float:
        return math.exp(_MAGNUS_B * celsius / (_MAGNUS_C + celsius))

    return min(max(100 * saturation(dew_point) / saturation(temperature), 15.0), 100.0)


def sun_elevation(t: datetime, lat: float = LATITUDE, lon: float = LONGITUDE) -> float:
    """Solar elevation in degrees (NOAA approximation, good to a fraction of a degree)."""
    utc = _utc(t)
    day = utc.timetuple().tm_yday
    hours = utc.hour + utc.minute / 60 + utc.second / 3600
    gamma = 2 * math.pi / 365 * (day - 1 + (hours - 12) / 24)
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
    )
    equation_of_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )  # minutes
    solar_minutes = hours * 60 + equation_of_time + 4 * lon
    hour_angle = math.radians(solar_minutes / 4 - 180)
    phi = math.radians(lat)
    sin_elevation = math.sin(phi) * math.sin(declination) + math.cos(phi) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_elevation))))


def illuminance(
    t: datetime, site_seed: Seed, lat: float = LATITUDE, lon: float = LONGITUDE
) -> float:
    """Outdoor illuminance, lx: daylight from the sun's elevation, dimmed by passing clouds."""
    elevation = sun_elevation(t, lat, lon)
    if elevation <= -6:
        return 0.0  # darker than civil twilight
    if elevation <= 0:
        return 400.0 * 10 ** (0.45 * elevation)  # twilight: ~400 lx at sunset, ~1 lx at -6 deg
    clear = 400.0 + 110_000.0 * math.sin(math.radians(elevation)) ** 1.25
    days = _days(t)
    cloud = _noise(site_seed, "cloud", days) + 0.5 * _noise(site_seed, "cloud-fast", days * 8)
    return clear * min(max(0.6 + 0.4 * cloud, 0.15), 1.0)


def battery_level(t: datetime, device_seed: Seed) -> float:
    """State of charge, 0-1: installed within a year before 2025, drained over 5-10 years."""
    installed = _EPOCH - timedelta(days=182.5 * (1 + hashed_uniform(device_seed, "installed", 0)))
    lifetime_days = _YEAR_DAYS * (7.5 + 2.5 * hashed_uniform(device_seed, "lifetime", 0))
    used = (_utc(t) - installed).total_seconds() / _DAY_S / lifetime_days
    return min(max(1.0 - used, 0.05), 1.0)
