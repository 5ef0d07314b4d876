"""`make bench` stays runnable: its line format and its workload, checked without timing anything.

The benchmarks are not part of `make test`'s pass/fail, so a change that breaks them (a codec's
payload layout, an encoder, a renamed function) must fail here rather than on the next bench run.
"""

from __future__ import annotations

import pytest

from bench.hotpath import messages, runs
from bench.report import LINE, Figure, number
from bench.workload import LORAWAN_MODELS, TENANT
from shared.telemetry.ingest import decode_uplink
from shared.telemetry.lorawan import FrmPayloadCipher


@pytest.mark.parametrize(
    ("value", "baseline"), [(61234.56, 5083.2), (0.06597, 2.0), (2.0, 2.0), (12.0, 0.4)]
)
def test_a_figure_is_one_parseable_line(value: float, baseline: float) -> None:
    line = Figure("hotpath_msgs_per_s_per_core", value, "msgs/s", baseline).line()
    match = LINE.fullmatch(line)
    assert match, line
    assert match["name"] == "hotpath_msgs_per_s_per_core"
    assert match["unit"] == "msgs/s"
    assert float(match["value"]) == pytest.approx(value, rel=1e-3)
    assert float(match["baseline"]) == pytest.approx(baseline, rel=1e-3)
    assert float(match["ratio"]) == pytest.approx(value / baseline, rel=1e-3)


def test_numbers_keep_four_digits_and_no_exponent() -> None:
    assert number(61234.56) == "61235"
    assert number(0.000012345) == "0.00001234"
    assert number(1.5) == "1.500"


def test_the_workload_decodes_through_every_lorawan_codec() -> None:
    batch = messages(sensors=len(LORAWAN_MODELS), uplinks_each=2)
    assert {m.device["model"] for m in batch} == set(LORAWAN_MODELS)
    temperatures = []
    for message in batch:
        uplink = message.uplink
        plaintext = FrmPayloadCipher(message.app_s_key).decrypt(
            uplink.payload, uplink.dev_addr or 0, uplink.fcnt or 0
        )
        observations = decode_uplink(TENANT, message.device, uplink, plaintext)
        assert observations, message.device["model"]
        temperatures += [
            r["value"] for o in observations for r in o.readings if r["quantity"] == "temperature"
        ]
    assert min(temperatures) < 0  # a Norwegian January: sign extension gets exercised


def test_the_measured_path_and_its_baseline_do_the_same_work() -> None:
    batch = messages(sensors=len(LORAWAN_MODELS), uplinks_each=2)
    measured, baseline = runs(batch)
    assert measured() == baseline() == len(batch)  # one event per uplink
