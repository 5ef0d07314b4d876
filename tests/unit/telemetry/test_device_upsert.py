"""What a registration may hold: bounded, so that no device document nears the 2 MB a Cosmos
DB item may be (a longer one would be refused there, and answered as a bad request)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.telemetry.devices import DeviceUpsert


def test_a_params_list_holds_at_most_20_texts() -> None:
    DeviceUpsert.model_validate({"model": "json", "name": "x", "params": {"a": ["x"] * 20}})
    with pytest.raises(ValidationError, match="at most 20 items"):
        DeviceUpsert.model_validate({"model": "json", "name": "x", "params": {"a": ["x"] * 21}})
