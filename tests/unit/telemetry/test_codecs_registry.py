"""Registry behaviour, and the property every codec shares: random bytes (what a payload
decrypted with the wrong key looks like) are rejected, and whatever is accepted is physical."""

from __future__ import annotations

import math
import random

import pytest

from shared.telemetry.codecs import MODELS, CodecError, UnknownModel, check_config, get_codec
from shared.telemetry.codecs.quantities import SPECS

# model -> (fport, device config) used for the random-payload property
RANDOM_PAYLOAD_CASES = {
    "milesight-em300-th": (85, {}),
    "elsys-ers": (1, {}),
    "dragino-lht65": (2, {}),
    "dragino-lsn50v2-d20": (
        2,
        {"wired_inputs": ["analog_voltage", "door_open", "digital_input"]},
    ),
    "decentlab-dl-ds18": (1, {}),
    "decentlab-dl-pr26": (1, {"pmin": 0.0, "pmax": 1.0}),
    "json": (0, {}),
}
# Where a device's range legitimately differs from the catalogue's (PR26: 0-1 bar +-10 %).
RANGE_OVERRIDES = {("decentlab-dl-pr26", "pressure"): (-10_000.0, 110_000.0)}


def test_registry_lists_every_model_once() -> None:
    assert len(MODELS) == len(set(MODELS))
    assert set(MODELS) == {
        "milesight-em300-th",
        "elsys-ers",
        "elsys-ers-lite",
        "elsys-elt",
        "dragino-lht65",
        "dragino-lsn50v2-d20",
        "decentlab-dl-ds18",
        "decentlab-dl-pr26",
        "json",
    }


@pytest.mark.parametrize("model", MODELS)
def test_every_registered_model_resolves_to_a_codec(model: str) -> None:
    codec = get_codec(model)
    assert callable(codec.decode)
    assert codec.model in MODELS


@pytest.mark.parametrize("alias", ["elsys-ers-lite", "elsys-elt"])
def test_elsys_aliases_share_the_ers_codec(alias: str) -> None:
    assert get_codec(alias) is get_codec("elsys-ers")


def test_unknown_model_is_a_codec_error_and_a_key_error() -> None:
    with pytest.raises(KeyError) as caught:
        get_codec("acme-thermometer")
    error = caught.value
    assert isinstance(error, UnknownModel)
    assert isinstance(error, CodecError)
    assert error.reason == "unknown_model"
    assert str(error) == "no codec registered for model 'acme-thermometer'"


@pytest.mark.parametrize("model", sorted(RANDOM_PAYLOAD_CASES))
@pytest.mark.parametrize("length", [4, 11, 24])
def test_random_bytes_are_rejected_or_decode_within_physical_ranges(
    model: str, length: int
) -> None:
    fport, config = RANDOM_PAYLOAD_CASES[model]
    codec = get_codec(model)
    rng = random.Random(f"{model}/{length}")
    accepted = 0
    for _ in range(2000):
        try:
            measurements = codec.decode(rng.randbytes(length), fport, config)
        except CodecError as error:
            assert error.reason
            continue
        accepted += 1
        for m in measurements:
            spec = SPECS[m.quantity]
            low, high = RANGE_OVERRIDES.get((model, m.quantity), (spec.low, spec.high))
            assert m.unit == spec.unit
            assert math.isfinite(m.value)
            assert low <= m.value <= high
    # A wrong-key payload must be caught in the vast majority of cases.
    assert accepted <= 20, f"{model} accepted {accepted}/2000 random {length}-byte payloads"


@pytest.mark.parametrize(
    ("model", "params", "reads"),
    [
        ("dragino-lsn50v2-d20", {"wired_input": ["door_open"]}, "(it reads: wired_inputs)"),
        ("decentlab-dl-pr26", {"pmin": 0, "pmax": 1, "p_max": 2}, "(it reads: pmax, pmin)"),
        ("dragino-lht65", {"x": 1}, "(it reads: none)"),
    ],
)
def test_a_param_the_codec_does_not_read_is_refused(model, params, reads) -> None:
    """A misspelt name would be ignored for good: a door that is wired never reported."""
    with pytest.raises(CodecError, match=r"reads no param") as caught:
        check_config(model, params)
    assert caught.value.reason == "bad_config"
    assert str(caught.value).endswith(reads)


@pytest.mark.parametrize("model", MODELS)
def test_every_codec_declares_what_it_reads(model) -> None:
    assert isinstance(get_codec(model).params, frozenset)
    check_config(model, RANDOM_PAYLOAD_CASES.get(model, (0, {}))[1])
