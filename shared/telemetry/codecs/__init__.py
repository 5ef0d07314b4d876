"""Device payload codecs: the port every device model implements, and the registry that finds it.

A codec turns one decrypted payload into physical measurements with SenML units, or rejects it
with a stable reason code. Codecs are pure functions of (payload, fport, config): no I/O and no
clock, so a redelivered message decodes to exactly the same measurements (idempotent ingest).

Adding a model: write one module in this package that exposes a codec object, then add one line
to ``_REGISTRY``. Shared pieces live in ``quantities`` (names, units, physical ranges) and
``_binary`` (bounds-checked byte reader).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol


class Measurement(NamedTuple):
    """One physical value decoded from a payload.

    Immutable like a frozen dataclass, but a NamedTuple because codecs build one per reading on
    the ingest hot path, where a frozen dataclass's ``__init__`` costs about three times more.
    """

    quantity: str  # snake_case domain name, see ``quantities``
    value: float
    unit: str  # SenML unit name
    probe: bool = False  # external probe; its medium (air, water) comes from the device config
    time: datetime | None = None  # device-reported time (UTC); None = network receive time


class CodecError(ValueError):
    """A payload rejected by a codec.

    ``reason`` is a short, stable machine code that ingest counts and quarantines by;
    ``str(error)`` is a human explanation. Reasons in use:

    too_short, bad_length, unknown_record, unsupported_mode, unsupported_port, bad_version,
    out_of_range, missing_config, bad_config, unknown_model; for JSON payloads also bad_json,
    bad_value, bad_time, unknown_quantity, unit_mismatch, too_large, empty.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __str__(self) -> str:
        # Explicit, so that UnknownModel (also a KeyError) does not print its message quoted.
        return str(self.args[0])


class UnknownModel(CodecError, KeyError):
    """No codec is registered under the requested model id."""


class Codec(Protocol):
    """Decodes the payloads of one device model."""

    @property
    def model(self) -> str:
        """The registry id of the model, e.g. ``milesight-em300-th``."""
        ...

    @property
    def params(self) -> frozenset[str]:
        """The names of the variant parameters (a device's ``params``) the codec reads."""
        ...

    def decode(self, payload: bytes, fport: int, config: Mapping[str, Any]) -> list[Measurement]:
        """Decode one decrypted payload; raise CodecError when it cannot be trusted."""
        ...


def check_config(model: str, config: Mapping[str, Any]) -> None:
    """Raise CodecError when ``config`` is not one the model's codec can decode with, so a
    device is refused at registration rather than quarantining every uplink: a name the codec
    does not read (a misspelt one would be ignored for good), or a value its own
    ``check_config(config)`` refuses.
    """
    codec = get_codec(model)
    unknown = sorted(set(config) - codec.params)
    if unknown:
        takes = ", ".join(sorted(codec.params)) or "none"
        raise CodecError("bad_config", f"{model} reads no param {unknown[0]!r} (it reads: {takes})")
    checker = getattr(codec, "check_config", None)
    if checker is not None:
        checker(config)


# (model id, module in this package, name of the codec object in that module)
_REGISTRY: tuple[tuple[str, str, str], ...] = (
    ("milesight-em300-th", "milesight_em300_th", "CODEC"),
    ("elsys-ers", "elsys_ers", "CODEC"),
    ("elsys-ers-lite", "elsys_ers", "CODEC"),
    ("elsys-elt", "elsys_ers", "CODEC"),
    ("dragino-lht65", "dragino_lht65", "CODEC"),
    ("dragino-lsn50v2-d20", "dragino_lsn50v2_d20", "CODEC"),
    ("decentlab-dl-ds18", "decentlab", "DL_DS18"),
    ("decentlab-dl-pr26", "decentlab", "DL_PR26"),
    ("json", "json_device", "CODEC"),
)

MODELS: tuple[str, ...] = tuple(model for model, _, _ in _REGISTRY)
_LOCATIONS: dict[str, tuple[str, str]] = {model: (mod, obj) for model, mod, obj in _REGISTRY}
_LOADED: dict[str, Codec] = {}


def get_codec(model: str) -> Codec:
    """Return the codec registered for ``model``; raise UnknownModel otherwise.

    Codec modules are imported on first use, so this package can be imported by the codecs
    themselves (for Measurement and CodecError) without an import cycle; the codec found is
    remembered, because ingest asks once per message.
    """
    codec = _LOADED.get(model)
    if codec is not None:
        return codec
    try:
        module_name, attribute = _LOCATIONS[model]
    except KeyError:
        raise UnknownModel("unknown_model", f"no codec registered for model {model!r}") from None
    module = importlib.import_module(f"{__name__}.{module_name}")
    codec = _LOADED[model] = getattr(module, attribute)
    return codec
