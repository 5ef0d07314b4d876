"""A full disk (or a database locked past the timeout) is the embedded store being unavailable,
as a Cosmos outage is: a 503 and a retried batch, never a 500, and the store works again once
there is room. A document too large for Cosmos DB is refused by both stores alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from shared.bootstrap import build_platform
from shared.settings import Settings
from shared.store import Unavailable
from shared.store.embedded import EmbeddedStore
from shared.store.tenancy import TenantContainer
from shared.telemetry.devices import DeviceUpsert
from shared.telemetry.ingest import deliver
from shared.telemetry.uplinks import parse_ttn
from shared.tenants.model import TenantCreate
from tests.support.uplinks import ttn_uplink

BIG = "x" * 200_000  # more than the pages left


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path / "store.sqlite")
    yield store
    store.close()


def _fill(store: EmbeddedStore) -> int:
    """Let the database grow no further (SQLite's own 'database or disk is full')."""
    pages = store.fetchone("PRAGMA page_count", ())[0]
    store.fetchone(f"PRAGMA max_page_count = {pages}", ())
    return pages


def test_a_full_store_is_unavailable_and_works_again_with_room(store: EmbeddedStore):
    tenants = TenantContainer(store.container("tenants"), "sandefjord")
    pages = _fill(store)
    with pytest.raises(Unavailable, match="full"):
        tenants.create({"id": "sandefjord", "note": BIG})
    with pytest.raises(Unavailable, match="full"), store.batch():
        tenants.create({"id": "sandefjord", "note": BIG})
    assert tenants.read("sandefjord") is None  # reads go on, nothing half-written
    store.fetchone(f"PRAGMA max_page_count = {pages * 1000}", ())
    tenants.create({"id": "sandefjord", "note": BIG})  # the lock was let go each time
    assert tenants.read("sandefjord")["note"] == BIG


def test_ingest_into_a_full_store_fails_the_batch_for_a_retry(tmp_path: Path):
    platform = build_platform(Settings(store="embedded", bus="inprocess", keystore="local",
                                       data_dir=tmp_path))
    try:
        platform.tenants.create(TenantCreate(id="sandefjord", name="Sandefjord",
                                             kommunenummer="3907"))
        platform.ingestor.registry("sandefjord").put(
            "0004a30b001c2b3d", DeviceUpsert.model_validate({"model": "json", "name": "x"}))
        readings = [
            deliver("ttn", orjson.dumps(ttn_uplink(
                "0004a30b001c2b3d", "260B1A2C", fcnt, b'{"temperature": 4.5}',
                f"2026-11-22T10:{fcnt // 60:02d}:{fcnt % 60:02d}Z", f_port=1,
            )), parse_ttn)
            for fcnt in range(1, 1000)
        ]
        _fill(platform.store)
        with pytest.raises(Unavailable, match="full"):
            platform.ingestor.ingest("sandefjord", readings)
    finally:
        platform.close()


def test_a_document_cosmos_would_refuse_for_its_size_is_refused_here_too(store: EmbeddedStore):
    """Cosmos DB stores at most 2 MB a document (413); so does the local runtime, as a bad
    request, not an outage to retry."""
    from shared.store import MAX_DOCUMENT_BYTES, InvalidRequest

    tenants = TenantContainer(store.container("tenants"), "sandefjord")
    with pytest.raises(InvalidRequest, match="over"):
        tenants.create({"id": "sandefjord", "note": "x" * MAX_DOCUMENT_BYTES})
    tenants.create({"id": "sandefjord", "note": "x" * (MAX_DOCUMENT_BYTES - 100)})


def test_cosmos_refusing_a_document_for_its_size_is_a_bad_request_not_an_outage():
    from azure.cosmos.exceptions import CosmosHttpResponseError

    from shared.store import InvalidRequest
    from shared.store.cosmos import _translated

    with pytest.raises(InvalidRequest), _translated("create devices/x"):
        raise CosmosHttpResponseError(status_code=413, message="Request size is too large")
