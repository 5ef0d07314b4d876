"""Every ingest test runs twice: on the embedded store and on Cosmos (the local server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.bootstrap import Platform, build_platform
from tests.conftest import make_settings


@pytest.fixture(params=["embedded", pytest.param("cosmos", marks=pytest.mark.cosmos)])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    overrides: dict[str, object] = {}
    if request.param == "cosmos":
        endpoint = request.getfixturevalue("cosmos_endpoint")
        overrides = {
            "store": "cosmos", "cosmos_endpoint": endpoint.url, "cosmos_key": endpoint.key,
            "cosmos_verify_tls": False, "cosmos_database": f"ingest{uuid.uuid4().hex[:10]}",
        }
    platform = build_platform(make_settings(tmp_path / "data", **overrides))
    yield platform
    platform.close()
