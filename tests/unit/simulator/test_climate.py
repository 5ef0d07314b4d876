"""Climate curves: physical ranges over a year, the seasonal shape, and determinism."""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from shared.simulator import climate

YEAR = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(365 * 24)]
LAKES = ("goksjo", "akersvannet", "farrisvannet", "eikeren", "glitre", "drammenselva")
SITES = ("sentrum", "bugarden", "holmen")


def hours_in(month: int, first_day: int = 1, last_day: int = 31) -> list[datetime]:
    return [t for t in YEAR if t.month == month and first_day <= t.day <= last_day]


@pytest.mark.parametrize("lake", LAKES)
def test_lake_temperature_stays_physical_and_follows_the_seasons(lake: str) -> None:
    temperatures = [climate.lake_temperature(t, lake) for t in YEAR]
    assert min(temperatures) > 0.0 and max(temperatures) < 25.0
    assert all(climate.lake_temperature(t, lake) < 5.0 for t in hours_in(2))  # under ice
    assert all(climate.lake_temperature(t, lake) > 15.0 for t in hours_in(7, 10))
    late_july = [climate.lake_temperature(t, lake) for t in hours_in(7, 20)]
    assert 18.0 <= statistics.mean(late_july) <= 22.0


def test_lakes_drift_slowly_from_hour_to_hour() -> None:
    temperatures = [climate.lake_temperature(t, "goksjo") for t in YEAR]
    assert max(abs(b - a) for a, b in itertools.pairwise(temperatures)) < 0.3


@pytest.mark.parametrize("site", SITES)
def test_air_temperature_stays_physical_and_freezes_in_winter(site: str) -> None:
    temperatures = [climate.air_temperature(t, site) for t in YEAR]
    assert min(temperatures) > -30.0 and max(temperatures) < 35.0
    winter = [climate.air_temperature(t, site) for t in hours_in(1) + hours_in(2)]
    assert sum(value < 0 for value in winter) > len(winter) // 4
    assert statistics.mean(winter) < 1.0
    july = [climate.air_temperature(t, site) for t in hours_in(7)]
    assert 14.0 < statistics.mean(july) < 20.0


def test_air_peaks_in_the_afternoon_and_humidity_moves_the_other_way() -> None:
    july = hours_in(7)
    by_local_hour: dict[int, list[float]] = {}
    for t in july:
        hour = t.astimezone(climate.OSLO).hour
        by_local_hour.setdefault(hour, []).append(climate.air_temperature(t, "sentrum"))
    means = {hour: statistics.mean(values) for hour, values in by_local_hour.items()}
    assert max(means, key=means.__getitem__) in (13, 14, 15)
    assert means[14] - means[4] > 5.0
    temperature = [climate.air_temperature(t, "sentrum") for t in july]
    humidity = [climate.relative_humidity(t, "sentrum") for t in july]
    assert statistics.correlation(temperature, humidity) < -0.5


def test_humidity_and_light_stay_in_range() -> None:
    humidity = [climate.relative_humidity(t, "holmen") for t in YEAR]
    assert min(humidity) >= 15.0 and max(humidity) <= 100.0
    light = [climate.illuminance(t, "holmen") for t in YEAR]
    assert min(light) == 0.0 and max(light) < 150_000.0


def test_daylight_follows_the_sun_at_59_north() -> None:
    midsummer_noon = datetime(2025, 6, 21, 11, 20, tzinfo=UTC)  # solar noon in Vestfold
    assert 53.0 < climate.sun_elevation(midsummer_noon) < 55.5
    assert climate.illuminance(midsummer_noon, "sentrum") > 20_000
    december_evening = datetime(2025, 12, 15, 17, 0, tzinfo=UTC)
    assert climate.illuminance(december_evening, "sentrum") == 0.0
    june_midnight = datetime(2025, 6, 21, 23, 20, tzinfo=UTC)  # light nights, sun below horizon
    assert climate.sun_elevation(june_midnight) < 0


def test_battery_drains_slowly() -> None:
    levels = [climate.battery_level(t, "A84041000000BEEF") for t in YEAR[::24]]
    assert all(b <= a for a, b in itertools.pairwise(levels))
    assert 0.05 <= levels[-1] < levels[0] <= 1.0
    assert levels[0] - levels[-1] < 0.25  # years of life, not months


def test_curves_are_deterministic_and_differ_per_seed() -> None:
    t = datetime(2025, 8, 3, 15, 30, tzinfo=UTC)
    assert climate.lake_temperature(t, "goksjo") == climate.lake_temperature(t, "goksjo")
    assert climate.lake_temperature(t, "goksjo") != climate.lake_temperature(t, "eikeren")
    assert climate.air_temperature(t, 1) == climate.air_temperature(t.astimezone(climate.OSLO), 1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        climate.air_temperature(datetime(2025, 1, 1), "sentrum")
