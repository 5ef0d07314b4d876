"""Both document store adapters, for one contract suite.

`store` is parametrised: `embedded` gets a fresh SQLite file per test; `cosmos` shares one store
against one local Cosmos server for the whole session (starting it costs ~0.5 s), so every test
writes under its own unique tenant/partition names and never sees another test's documents.
The Cosmos side is never skipped: if its server cannot start, the fixture errors with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.store import DocumentStore
from shared.store.cosmos import CosmosStore
from shared.store.embedded import EmbeddedStore
from tests.support.local_servers import CosmosEndpoint


@pytest.fixture(scope="session")
def cosmos_store(cosmos_endpoint: CosmosEndpoint) -> Iterator[CosmosStore]:
    # Built the way the app builds it, so key auth's container creation is what gets tested.
    settings = Settings(
        store="cosmos",
        cosmos_endpoint=cosmos_endpoint.url,
        cosmos_key=cosmos_endpoint.key,
        cosmos_verify_tls=False,
        cosmos_database=f"contract{uuid.uuid4().hex[:8]}",
    )
    store = CosmosStore.from_settings(settings)
    yield store
    store.close()


@pytest.fixture(params=["embedded", pytest.param("cosmos", marks=pytest.mark.cosmos)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "cosmos":
        yield request.getfixturevalue("cosmos_store")
        return
    embedded = EmbeddedStore(tmp_path / "store.db")
    yield embedded
    embedded.close()


@pytest.fixture
def unique() -> str:
    """A fresh name for this test's tenant or partition (valid as a tenant id)."""
    return f"t{uuid.uuid4().hex[:10]}"
