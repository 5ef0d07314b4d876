"""The document store contract: one suite, run against both adapters (see conftest.py).

Where the local Cosmos server cannot show a behaviour (it does not enforce TTL), the behaviour is
tested on the embedded store and the Cosmos side checks the configuration that makes real Cosmos
enforce it (TESTING.md).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import CosmosClient

from shared.settings import Settings
from shared.store import (
    CONTAINERS,
    MAX_BATCH,
    Conflict,
    Container,
    Document,
    DocumentStore,
    InvalidRequest,
    NotFound,
    Page,
    PreconditionFailed,
    Query,
    Unavailable,
    Write,
)
from shared.store import embedded as embedded_module
from shared.store.cosmos import THROTTLE_RETRIES, THROTTLE_WAIT_MS, CosmosStore, indexing_policy
from shared.store.embedded import EmbeddedStore
from shared.store.tenancy import TenantContainer
from tests.support.counting import CountingTransport, ThrottledTransport
from tests.support.local_servers import CosmosEndpoint


@pytest.fixture
def devices(store: DocumentStore) -> Container:
    """A tenant-partitioned container with indexed fields (`id`, `area`)."""
    return store.container("devices")


def device(tenant: str, id: str, **fields: Any) -> Document:
    return {"id": id, "tenant": tenant, **fields}


def ids(items: list[Document]) -> list[str]:
    return [doc["id"] for doc in items]


def fill(container: Container, tenant: str, count: int) -> None:
    for n in range(count):
        container.create(device(tenant, f"d{n:02}", n=n, area=f"a{n % 3}", even=n % 2 == 0))


def all_pages(fetch: Callable[..., Page], limit: int) -> list[Page]:
    """Follow continuations until the end; `fetch(limit=, continuation=)` returns a Page."""
    pages = [fetch(limit=limit, continuation=None)]
    while pages[-1].continuation is not None:
        assert len(pages) < 100, "continuation never ends"
        pages.append(fetch(limit=limit, continuation=pages[-1].continuation))
    return pages


# --- point operations -------------------------------------------------------------------------


def test_create_returns_document_with_etag_and_read_returns_it(devices: Container, unique: str):
    created = devices.create(device(unique, "d1", name="Sensor"))
    assert created["id"] == "d1" and created["name"] == "Sensor"
    assert isinstance(created["_etag"], str) and created["_etag"]

    read = devices.read(unique, "d1")
    assert read is not None
    assert read["name"] == "Sensor"
    assert read["_etag"] == created["_etag"]


def test_returned_documents_carry_no_cosmos_internals(devices: Container, unique: str):
    created = devices.create(device(unique, "d1"))
    read = devices.read(unique, "d1")
    for doc in (created, read, devices.query(unique, Query()).items[0]):
        assert doc is not None
        assert not {"_rid", "_self", "_attachments"} & doc.keys()


def test_writes_do_not_change_the_callers_document(devices: Container, unique: str):
    doc = device(unique, "d1", name="x")
    devices.create(doc)
    assert doc == device(unique, "d1", name="x")


def test_read_of_missing_document_is_none(devices: Container, unique: str):
    devices.create(device(unique, "d1"))
    assert devices.read(unique, "missing") is None
    assert devices.read(f"{unique}-other", "d1") is None  # the id exists, but not there


def test_create_of_existing_id_conflicts_within_its_partition_only(devices: Container, unique: str):
    devices.create(device(unique, "d1"))
    with pytest.raises(Conflict):
        devices.create(device(unique, "d1", name="second"))
    devices.create(device(f"{unique}-other", "d1"))  # same id, other partition: no conflict
    assert "name" not in (devices.read(unique, "d1") or {})


def test_upsert_inserts_then_overwrites(devices: Container, unique: str):
    first = devices.upsert(device(unique, "d1", v=1))
    second = devices.upsert(device(unique, "d1", v=2))
    assert second["_etag"] != first["_etag"]
    read = devices.read(unique, "d1")
    assert read is not None and read["v"] == 2


def test_replace_with_current_etag_succeeds(devices: Container, unique: str):
    created = devices.create(device(unique, "d1", v=1))
    replaced = devices.replace({**created, "v": 2}, etag=created["_etag"])
    assert replaced["v"] == 2 and replaced["_etag"] != created["_etag"]
    assert (devices.read(unique, "d1") or {})["v"] == 2


def test_replace_with_stale_etag_fails_and_keeps_the_newer_write(devices: Container, unique: str):
    created = devices.create(device(unique, "d1", v=1))
    devices.replace({**created, "v": 2}, etag=created["_etag"])
    with pytest.raises(PreconditionFailed):
        devices.replace({**created, "v": 3}, etag=created["_etag"])
    assert (devices.read(unique, "d1") or {})["v"] == 2


def test_replace_without_etag_overwrites(devices: Container, unique: str):
    devices.create(device(unique, "d1", v=1))
    devices.replace(device(unique, "d1", v=5))
    assert (devices.read(unique, "d1") or {})["v"] == 5


def test_replace_of_missing_document_is_not_found(devices: Container, unique: str):
    with pytest.raises(NotFound):
        devices.replace(device(unique, "missing"))
    with pytest.raises(NotFound):
        devices.replace(device(unique, "missing"), etag='"some-etag"')


def test_delete_reports_whether_it_deleted(devices: Container, unique: str):
    devices.create(device(unique, "d1"))
    assert devices.delete(unique, "d1") is True
    assert devices.read(unique, "d1") is None
    assert devices.delete(unique, "d1") is False


def test_a_delete_with_an_etag_deletes_only_the_version_read(devices: Container, unique: str):
    """Deleting what was read, not what another writer has written since."""
    read = devices.create(device(unique, "d1"))
    rewritten = devices.replace(device(unique, "d1", name="changed"))
    with pytest.raises(PreconditionFailed):
        devices.delete(unique, "d1", etag=read["_etag"])
    assert devices.read(unique, "d1") is not None
    assert devices.delete(unique, "d1", etag=rewritten["_etag"]) is True
    assert devices.read(unique, "d1") is None
    assert devices.delete(unique, "d1", etag=rewritten["_etag"]) is False  # gone: nothing to do


@pytest.mark.parametrize(
    "doc",
    [
        {"id": "d1"},  # no partition key
        {"tenant": "x"},  # no id
        {"id": 7, "tenant": "x"},  # id not a string
        {"id": "a/b", "tenant": "x"},  # Cosmos cannot address ids with / \ ? #
        {"id": "a#b", "tenant": "x"},
        {"id": "a\tb", "tenant": "x"},  # the Cosmos SDK: no tab or line break, no trailing
        {"id": "a\nb", "tenant": "x"},  # space or line break
        {"id": "a ", "tenant": "x"},
    ],
)
def test_invalid_documents_are_rejected(devices: Container, doc: Document):
    with pytest.raises(ValueError):
        devices.create(doc)


def test_unicode_round_trips_and_is_queryable(devices: Container, unique: str):
    devices.create(device(unique, "sjø", name="Blåbærsjøen", note="Æ Ø Å — 🐟"))
    read = devices.read(unique, "sjø")
    assert read is not None
    assert (read["name"], read["note"]) == ("Blåbærsjøen", "Æ Ø Å — 🐟")
    found = devices.query(unique, Query(where={"name": "Blåbærsjøen"})).items
    assert ids(found) == ["sjø"]


# --- queries ----------------------------------------------------------------------------------


def test_query_where_filters_on_equality(devices: Container, unique: str):
    fill(devices, unique, 9)
    found = devices.query(unique, Query(where={"area": "a1"})).items
    assert sorted(ids(found)) == ["d01", "d04", "d07"]


def test_query_where_matches_booleans(devices: Container, unique: str):
    fill(devices, unique, 6)
    assert sorted(ids(devices.query(unique, Query(where={"even": True})).items)) == [
        "d00",
        "d02",
        "d04",
    ]
    assert sorted(ids(devices.query(unique, Query(where={"even": False})).items)) == [
        "d01",
        "d03",
        "d05",
    ]


def test_query_where_none_matches_null_and_absent(devices: Container, unique: str):
    devices.create(device(unique, "null", area=None))
    devices.create(device(unique, "absent"))
    devices.create(device(unique, "set", area="a1"))
    found = devices.query(unique, Query(where={"area": None})).items
    assert sorted(ids(found)) == ["absent", "null"]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ((2, 4), ["d02", "d03", "d04"]),  # inclusive on both sides
        ((None, 1), ["d00", "d01"]),
        ((4, None), ["d04", "d05"]),
    ],
)
def test_query_range(devices: Container, unique: str, bounds: tuple[Any, Any], expected: list[str]):
    fill(devices, unique, 6)
    found = devices.query(unique, Query(range={"n": bounds})).items
    assert sorted(ids(found)) == expected


def test_query_combines_filters(devices: Container, unique: str):
    fill(devices, unique, 12)
    query = Query(where={"even": True, "area": "a2"}, range={"n": (1, 9)})
    assert sorted(ids(devices.query(unique, query).items)) == ["d02", "d08"]
    assert devices.count(unique, query) == 2


@pytest.mark.parametrize("descending", [False, True])
def test_query_order_by(devices: Container, unique: str, descending: bool):
    for id, area in [("x", "b"), ("y", "c"), ("z", "a")]:
        devices.create(device(unique, id, area=area))
    found = devices.query(unique, Query(order_by="area", descending=descending)).items
    expected = ["z", "x", "y"]
    assert ids(found) == (expected[::-1] if descending else expected)


def test_order_by_needs_an_indexed_field(devices: Container, unique: str):
    # Real Cosmos cannot ORDER BY a path its indexing policy excludes; both adapters refuse.
    with pytest.raises(ValueError):
        devices.query(unique, Query(order_by="name"))


@pytest.mark.parametrize("field", ["bad-name", "a.b", "c) OR (1=1", ""])
def test_query_rejects_field_names_that_are_not_identifiers(
    devices: Container, unique: str, field: str
):
    with pytest.raises(ValueError):
        devices.query(unique, Query(where={field: 1}))


@pytest.mark.parametrize("limit", [0, 1001])
def test_query_limit_is_bounded(devices: Container, unique: str, limit: int):
    with pytest.raises(ValueError):
        devices.query(unique, Query(), limit=limit)


@pytest.mark.parametrize("order_by", [None, "id"])
def test_paging_returns_every_item_exactly_once(
    devices: Container, unique: str, order_by: str | None
):
    fill(devices, unique, 25)

    def fetch(**page: Any) -> Page:
        return devices.query(unique, Query(order_by=order_by), **page)

    pages = all_pages(fetch, limit=10)
    sizes = [len(page.items) for page in pages]
    assert sizes[:3] == [10, 10, 5] and not any(sizes[3:])
    found = [id for page in pages for id in ids(page.items)]
    assert sorted(found) == [f"d{n:02}" for n in range(25)]
    if order_by:
        assert found == sorted(found)


@pytest.mark.parametrize("descending", [False, True])
def test_paging_by_a_field_with_ties_and_nulls_returns_every_item_once_in_order(
    devices: Container, unique: str, descending: bool
):
    areas = ["b", None, "a", "b", None, "c", "a", "b"]
    for n, area in enumerate(areas):
        devices.create(device(unique, f"d{n}", area=area))

    def fetch(**page: Any) -> Page:
        return devices.query(unique, Query(order_by="area", descending=descending), **page)

    found = [doc for page in all_pages(fetch, limit=1) for doc in page.items]
    assert sorted(ids(found)) == sorted(f"d{n}" for n in range(len(areas)))
    order = [doc.get("area") for doc in found]
    present = [area for area in order if area is not None]
    assert present == sorted(present, reverse=descending)
    nulls = [n for n, area in enumerate(order) if area is None]
    assert nulls == ([6, 7] if descending else [0, 1])  # SQL and Cosmos: nulls sort lowest


def test_a_delete_between_pages_hides_no_other_item(devices: Container, unique: str):
    fill(devices, unique, 6)
    first = devices.query(unique, Query(order_by="id"), limit=2)
    assert ids(first.items) == ["d00", "d01"] and first.continuation
    devices.delete(unique, "d00")
    following = devices.query(unique, Query(order_by="id"), limit=10,
                              continuation=first.continuation)
    assert ids(following.items) == ["d02", "d03", "d04", "d05"]


def test_count(devices: Container, unique: str):
    fill(devices, unique, 7)
    devices.create(device(f"{unique}-other", "d00", area="a0"))
    assert devices.count(unique, Query()) == 7
    assert devices.count(unique, Query(where={"area": "a0"})) == 3
    assert devices.count(unique, Query(where={"area": "none"})) == 0


# --- projections ------------------------------------------------------------------------------


def test_a_projection_returns_exactly_the_asked_fields_a_document_has(
    devices: Container, unique: str
):
    devices.create(device(
        unique, "full", name="Blåbærsjøen", location={"lat": 59.1, "lon": 10.2}, tags=["a", 1],
        flag=True, off=False, n=2.5, none=None, hour={"q": {"t": {"v": {"1": 1.0}}}},
    ))
    devices.create(device(unique, "bare", hour={"q": {}}))
    fields = ("name", "location", "tags", "flag", "off", "n", "none", "missing")
    found = devices.query(unique, Query(order_by="id", fields=fields)).items
    assert found == [
        {},  # "bare": absent fields are left out, not null
        {"name": "Blåbærsjøen", "location": {"lat": 59.1, "lon": 10.2}, "tags": ["a", 1],
         "flag": True, "off": False, "n": 2.5, "none": None},
    ]


@pytest.mark.parametrize("value", [
    0.1 + 0.2, 59.123456789012344, 1.0000000000000002e16, 1e308, -0.0, 2**63, 2**64 - 1,
    "\x00nul\x1f", '{"a": 1}', "Blåbærsjøen \u2028", [], {},
], ids=repr)
def test_a_projected_value_is_the_value_the_whole_document_holds(
    devices: Container, unique: str, value: object
):
    """Every digit of a number, every character of a string: a projection reads, it does not
    convert."""
    devices.create(device(unique, "d1", kept=value, other=1))
    whole = devices.read(unique, "d1")
    assert whole is not None
    projected = devices.query(unique, Query(fields=("kept",))).items
    assert projected == [{"kept": whole["kept"]}]
    assert repr(projected[0]["kept"]) == repr(whole["kept"])  # -0.0 == 0.0, but not as text


def test_a_projection_filters_and_orders_by_fields_it_leaves_out(
    devices: Container, unique: str
):
    fill(devices, unique, 12)
    query = Query(where={"even": True}, range={"n": (1, 7)}, order_by="area", fields=("n",))
    assert devices.query(unique, query).items == [{"n": 6}, {"n": 4}, {"n": 2}]


@pytest.mark.parametrize(("order_by", "descending"), [(None, False), ("id", False),
                                                     ("area", False), ("area", True)])
def test_projected_pages_are_the_whole_documents_pages(
    devices: Container, unique: str, order_by: str | None, descending: bool
):
    fill(devices, unique, 13)

    def fetch(fields: tuple[str, ...] | None) -> list[list[Any]]:
        query = Query(order_by=order_by, descending=descending, fields=fields)
        pages = all_pages(lambda **page: devices.query(unique, query, **page), limit=4)
        return [[doc["n"] for doc in page.items] for page in pages]

    projected = fetch(("n",))
    assert projected == fetch(None)
    assert sorted(n for page in projected for n in page) == list(range(13))


@pytest.mark.parametrize("with_id", [False, True])
def test_a_projected_scan_pages_across_partitions(
    store: DocumentStore, unique: str, with_id: bool
):
    """A scan pages by id, whether or not its projection asks for the ids."""
    tenants = store.container("tenants")
    for n in range(5):
        tenants.create({"id": f"{unique}-{n}", "tenant": f"{unique}-{n}", "batch": unique, "n": n})
    fields = ("n", "id") if with_id else ("n",)

    def fetch(**page: Any) -> Page:
        return tenants.scan(Query(where={"batch": unique}, fields=fields), **page)

    found = [doc for page in all_pages(fetch, limit=2) for doc in page.items]
    assert found == [{"n": n, **({"id": f"{unique}-{n}"} if with_id else {})} for n in range(5)]


@pytest.mark.parametrize("fields", [(), ("n", "n"), ("_etag",), ("bad-name",), ("a.b",)])
def test_a_projection_names_distinct_queryable_fields(
    store: DocumentStore, unique: str, fields: tuple[str, ...]
):
    with pytest.raises(ValueError):
        store.container("devices").query(unique, Query(fields=fields))
    with pytest.raises(ValueError):
        store.container("tenants").scan(Query(fields=fields))


def test_scan_crosses_partitions(store: DocumentStore, unique: str):
    tenants = store.container("tenants")
    for n in range(5):
        tenants.create({"id": f"{unique}-{n}", "tenant": f"{unique}-{n}", "batch": unique})
    tenants.create({"id": f"{unique}-x", "tenant": f"{unique}-x", "batch": "other"})

    def fetch(**page: Any) -> Page:
        return tenants.scan(Query(where={"batch": unique}, order_by="id"), **page)

    pages = all_pages(fetch, limit=2)
    assert [id for page in pages for id in ids(page.items)] == [f"{unique}-{n}" for n in range(5)]


def test_a_scan_that_finds_nothing_is_one_empty_page(store: DocumentStore, unique: str):
    """A fresh region lists no tenants (and the hourly sweep pages through none)."""
    page = store.container("tenants").scan(Query(where={"batch": unique}, order_by="id"))
    assert page.items == [] and page.continuation is None


def test_read_many(devices: Container, unique: str):
    fill(devices, unique, 4)
    devices.create(device(f"{unique}-other", "d09"))
    found = devices.read_many(unique, ["d01", "d03", "d03", "missing", "d09"])
    assert sorted(ids(found)) == ["d01", "d03"]
    assert all(doc["_etag"] for doc in found)
    assert devices.read_many(unique, []) == []


def test_etags_tell_which_copies_are_still_the_stored_ones(devices: Container, unique: str):
    fill(devices, unique, 3)
    devices.create(device(f"{unique}-other", "d09"))
    held = {doc["id"]: doc for doc in devices.read_many(unique, ["d00", "d01", "d02"])}
    replaced = devices.replace(device(unique, "d01", area="moved"), etag=held["d01"]["_etag"])
    devices.delete(unique, "d02")
    current = devices.etags(unique, ["d00", "d01", "d02", "missing", "d09", "d00"])
    assert current == {"d00": held["d00"]["_etag"], "d01": replaced["_etag"]}
    assert current["d01"] != held["d01"]["_etag"]
    assert devices.etags(unique, []) == {}


def test_writes_in_a_batch_are_visible_in_it_and_after_it(store: DocumentStore, unique: str):
    devices = store.container("devices")
    with store.batch():
        devices.create(device(unique, "a"))
        assert devices.read(unique, "a") is not None  # a batch reads its own writes
        with store.batch():  # a nested batch joins the outer one
            devices.upsert(device(unique, "b"))
        with pytest.raises(Conflict):  # a failed write does not end the batch
            devices.create(device(unique, "a"))
        devices.create(device(unique, "c"))
    assert sorted(ids(devices.read_many(unique, ["a", "b", "c"]))) == ["a", "b", "c"]


# --- writes grouped per partition (write_all) ----------------------------------------------------


def test_write_all_creates_and_replaces_and_returns_what_it_wrote(devices: Container, unique: str):
    old = devices.create(device(unique, "old", n=0))
    written = devices.write_all(
        unique,
        [
            Write(device(unique, "new", n=1)),
            Write(device(unique, "old", n=2), etag=old["_etag"]),
        ],
    )
    assert [doc and (doc["id"], doc["n"]) for doc in written] == [("new", 1), ("old", 2)]
    for doc in written:
        assert doc is not None and doc["_etag"] and not doc.keys() & {"_rid", "_self"}
        stored = devices.read(unique, doc["id"])
        assert stored is not None and stored["n"] == doc["n"]
        assert stored["_etag"] == doc["_etag"]  # fit for the next conditional write


def test_write_all_spans_transactional_batches(devices: Container, unique: str):
    count = MAX_BATCH * 2 + 5  # three Cosmos batches
    written = devices.write_all(
        unique, [Write(device(unique, f"d{n:03}", n=n)) for n in range(count)]
    )
    assert [doc and doc["n"] for doc in written] == list(range(count))
    assert devices.count(unique, Query()) == count


@pytest.mark.parametrize("failure", ["id taken", "stale etag", "document gone"])
def test_write_all_reports_writes_it_could_not_apply(
    devices: Container, unique: str, failure: str
):
    """A write whose precondition fails comes back None and changes nothing; the other was
    either written (embedded) or rolled back with it (Cosmos' transactional batch), and its
    result says which."""
    stale = devices.create(device(unique, "stored", n=0))
    current = devices.replace(device(unique, "stored", n=1), etag=stale["_etag"])
    failing = {
        "id taken": Write(device(unique, "stored", n=9)),
        "stale etag": Write(device(unique, "stored", n=9), etag=stale["_etag"]),
        "document gone": Write(device(unique, "gone", n=9), etag=current["_etag"]),
    }[failure]
    written = devices.write_all(unique, [Write(device(unique, "fresh", n=9)), failing])
    assert written[1] is None
    assert devices.read(unique, "stored") == current
    assert devices.read(unique, "gone") is None
    fresh = devices.read(unique, "fresh")
    if written[0] is None:
        assert fresh is None
    else:
        assert fresh is not None and fresh["_etag"] == written[0]["_etag"]


@pytest.mark.cosmos
@pytest.mark.parametrize(
    ("count", "size", "requests"),
    [(MAX_BATCH * 2 + 5, 10, 3), (3, 700_000, 2)],
    ids=["by-count", "by-bytes"],
)
def test_cosmos_write_all_sends_one_request_per_transactional_batch(
    cosmos_endpoint: CosmosEndpoint, unique: str, count: int, size: int, requests: int
):
    """At most 100 operations and 2 MB per batch (Cosmos' limits), each batch one request."""
    counter = CountingTransport()
    store = CosmosStore(
        cosmos_endpoint.url, cosmos_endpoint.key, unique, verify_tls=False,
        ensure_containers=True, transport=counter,
    )
    try:
        devices = store.container("devices")
        devices.read(unique, "nothing")  # connects and creates the containers
        counter.requests = 0
        writes = [Write(device(unique, f"d{n:03}", blob="x" * size)) for n in range(count)]
        assert all(devices.write_all(unique, writes))
        assert counter.requests == requests
        assert devices.count(unique, Query()) == count
    finally:
        store.close()


@pytest.mark.cosmos
def test_cosmos_throttling_fails_within_its_bound_whatever_the_server_asks(
    cosmos_endpoint: CosmosEndpoint, unique: str
):
    """A 429 asking for 20 s: the SDK would sleep it out, past the operation's timeout; the
    store pauses a fixed interval, retries a few times, then says Unavailable (the trigger
    retries the batch later)."""
    throttled = ThrottledTransport(retry_after_ms=20_000, connection_verify=False)
    store = CosmosStore(cosmos_endpoint.url, cosmos_endpoint.key, unique, verify_tls=False,
                        ensure_containers=True, transport=throttled)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            store.container("devices").read(unique, "anything")
        assert time.monotonic() - started < 2 * THROTTLE_WAIT_MS / 1000 * THROTTLE_RETRIES + 2
        assert throttled.throttled == THROTTLE_RETRIES + 1
    finally:
        store.close()


def test_write_all_stays_in_its_partition(devices: Container, unique: str):
    with pytest.raises(ValueError, match="partition"):
        devices.write_all(unique, [Write(device(unique, "a")), Write(device(f"{unique}x", "b"))])
    assert devices.read(unique, "a") is None


def test_unknown_container_is_a_key_error(store: DocumentStore):
    with pytest.raises(KeyError):
        store.container("nope")


def test_ping_answers(store: DocumentStore):
    store.ping()


# --- tenant isolation -------------------------------------------------------------------------


def test_tenant_view_never_sees_another_tenants_documents(store: DocumentStore, unique: str):
    container = store.container("devices")
    a = TenantContainer(container, f"{unique}-a")
    b = TenantContainer(container, f"{unique}-b")
    a.create({"id": "shared-id", "area": "x", "owner": "a"})
    b.create({"id": "shared-id", "area": "x", "owner": "b"})
    b.create({"id": "only-b", "area": "x", "owner": "b"})

    assert (a.read("shared-id") or {})["owner"] == "a"
    assert a.read("only-b") is None
    assert [d["owner"] for d in a.query(Query(where={"area": "x"})).items] == ["a"]
    assert a.count(Query()) == 1
    assert ids(a.read_many(["shared-id", "only-b"])) == ["shared-id"]
    assert a.delete("only-b") is False
    assert b.read("only-b") is not None


def test_series_partitions_by_tenant_and_suffix(store: DocumentStore, unique: str):
    series = TenantContainer(store.container("series"), unique)
    written = series.upsert(
        {"id": "r1", "bucket": "2024-05", "v": 1.5, "ttl": 3600}, "dev1", "2024-05"
    )
    series.upsert({"id": "r1", "bucket": "2024-06", "v": 9.0}, "dev1", "2024-06")
    assert written["pk"] == f"{unique}|dev1|2024-05"
    assert written["tenant"] == unique
    assert written["ttl"] == 3600  # the item's retention travels with it (Cosmos enforces it)

    may = series.query(Query(), "dev1", "2024-05").items
    assert [(d["id"], d["v"]) for d in may] == [("r1", 1.5)]
    assert (series.read("r1", "dev1", "2024-06") or {})["v"] == 9.0
    assert series.read("r1", "dev2", "2024-05") is None
    other_tenant = TenantContainer(store.container("series"), f"{unique}-b")
    assert other_tenant.read("r1", "dev1", "2024-05") is None


# --- TTL: configuration on Cosmos, enforcement on the embedded store ---------------------------


def test_cosmos_containers_have_the_specs_ttl_partition_key_and_indexing(
    cosmos_store: CosmosStore, cosmos_endpoint: CosmosEndpoint
):
    cosmos_store.ping()  # connects, which creates the containers (key auth)
    client = CosmosClient(
        cosmos_endpoint.url,
        cosmos_endpoint.key,
        connection_verify=False,
        enable_endpoint_discovery=False,
    )
    with client:
        database = client.get_database_client(cosmos_store.database_name)
        for spec in CONTAINERS:
            properties = database.get_container_client(spec.name).read()
            assert properties.get("defaultTtl") == spec.default_ttl, spec.name
            assert properties["partitionKey"]["paths"] == [f"/{spec.partition_key}"]
            policy = properties["indexingPolicy"]
            assert policy == indexing_policy(spec)
            included = {p["path"] for p in policy["includedPaths"]}
            assert included == {f"/{f}/?" for f in (spec.partition_key, *spec.indexed)}
            assert {"path": "/*"} in policy["excludedPaths"]


class _Clock:
    """Stands in for the `time` module inside the embedded store: a clock tests can advance."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


def test_embedded_store_enforces_cosmos_ttl_semantics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # TTL *enforcement* is only tested here: the local Cosmos server does not enforce TTL
    # (TESTING.md); the Cosmos side asserts the containers' defaultTtl above instead.
    clock = _Clock()
    monkeypatch.setattr(embedded_module, "time", clock)
    store = EmbeddedStore(tmp_path / "ttl.db")
    series = TenantContainer(store.container("series"), "ttl")  # defaultTtl -1: per item
    tenants = store.container("tenants")  # TTL off: item ttl ignored
    quarantine = store.container("quarantine")  # defaultTtl 30 days
    series.upsert({"id": "short", "ttl": 1}, "dev")
    series.upsert({"id": "forever"}, "dev")
    tenants.upsert({"id": "ttl", "tenant": "ttl", "ttl": 1})
    quarantine.upsert({"id": "q", "tenant": "ttl"})

    clock.now += 2
    assert series.read("short", "dev") is None
    assert series.count(Query(), "dev") == 1
    assert series.read("forever", "dev") is not None
    assert tenants.read("ttl", "ttl") is not None
    assert quarantine.read("ttl", "q") is not None
    with pytest.raises(NotFound):
        series.replace({"id": "short"}, "dev")
    series.create({"id": "short"}, "dev")  # an expired id is free again

    clock.now += 30 * 24 * 3600
    assert quarantine.read("ttl", "q") is None
    store.close()


# --- Cosmos adapter specifics -----------------------------------------------------------------


def test_cosmos_from_settings_uses_managed_identity_without_a_key(
    monkeypatch: pytest.MonkeyPatch,
):
    made: list[dict[str, Any]] = []

    class FakeCredential:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        def close(self) -> None:
            made.append({"closed": True})

    monkeypatch.setattr("shared.store.cosmos.DefaultAzureCredential", FakeCredential)
    settings = Settings(
        store="cosmos",
        cosmos_endpoint="https://smartby.documents.azure.com:443/",
        cosmos_key=None,  # explicit: a developer's environment may set COSMOS__accountKey
        managed_identity_client_id="client-id",
    )
    store = CosmosStore.from_settings(settings)  # connects lazily: no network here
    assert made == [{"managed_identity_client_id": "client-id"}]
    assert store.ensures_containers is False  # Bicep owns containers in Azure
    store.close()
    assert made[-1] == {"closed": True}


def test_cosmos_refuses_unverified_tls_beyond_loopback():
    with pytest.raises(ValueError, match="loopback"):
        CosmosStore("https://smartby.documents.azure.com:443/", "a2V5", "db", verify_tls=False)


def test_cosmos_unreachable_is_unavailable():
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = CosmosStore(f"https://127.0.0.1:{port}", "a2V5", "db", verify_tls=False)
    with pytest.raises(Unavailable):
        store.ping()
    with pytest.raises(Unavailable):
        store.container("devices").read("t", "d")
    store.close()


@pytest.mark.cosmos
def test_a_cosmos_page_carries_its_own_continuation(
    cosmos_store: CosmosStore, unique: str, monkeypatch: pytest.MonkeyPatch
):
    """The API's thread pool pages through one client: the SDK's page iterator reads the token
    from the client's `last_response_headers`, which any other request overwrites. Tenant A's
    page is held right there while tenant B's query runs."""
    import threading

    from azure.cosmos import _query_iterable

    devices = cosmos_store.container("devices")
    for tenant in (f"{unique}a", f"{unique}b"):
        for n in range(6):
            devices.create(device(tenant, f"{tenant}-d{n}"))
    a_held, b_done = threading.Event(), threading.Event()
    unpack = _query_iterable.QueryIterable._unpack

    def held_in_a(self, block):
        if threading.current_thread().name == "tenant-a":
            a_held.set()
            b_done.wait(10)
        return unpack(self, block)

    monkeypatch.setattr(_query_iterable.QueryIterable, "_unpack", held_in_a)
    pages: dict[str, Page] = {}
    a = threading.Thread(name="tenant-a", target=lambda: pages.__setitem__(
        "a", devices.query(f"{unique}a", Query(order_by="id"), limit=2)))
    a.start()
    assert a_held.wait(10)
    devices.query(f"{unique}b", Query(order_by="id"), limit=4)
    b_done.set()
    a.join(10)
    monkeypatch.undo()
    rest = devices.query(f"{unique}a", Query(order_by="id"), limit=10,
                         continuation=pages["a"].continuation)
    assert ids(pages["a"].items) + ids(rest.items) == [f"{unique}a-d{n}" for n in range(6)]


@pytest.mark.parametrize("token", ["€", " x", "x\ny", "!!!!"])
def test_a_continuation_that_is_not_a_token_is_invalid(devices: Container, unique: str, token):
    """Passed on as a request header, such text would fail as a 500 or a retried 503."""
    fill(devices, unique, 3)
    with pytest.raises(InvalidRequest):
        devices.query(unique, Query(order_by="id"), limit=1, continuation=token)


def test_a_scan_pages_past_ids_that_are_not_ascii(store: DocumentStore, unique: str):
    tenants = store.container("tenants")
    names = [f"{unique}-bærum", f"{unique}-ø2", f"{unique}-å3"]
    for name in names:
        tenants.create({"id": name, "tenant": name, "batch": unique})

    def fetch(**page: Any) -> Page:
        return tenants.scan(Query(where={"batch": unique}), **page)

    pages = all_pages(fetch, limit=1)
    assert sorted(id for page in pages for id in ids(page.items)) == sorted(names)


def test_an_empty_continuation_is_the_first_page(devices: Container, unique: str):
    fill(devices, unique, 3)
    assert ids(devices.query(unique, Query(order_by="id"), limit=2, continuation="").items) == [
        "d00", "d01"
    ]


def test_a_scan_is_ordered_by_id(store: DocumentStore):
    with pytest.raises(ValueError, match="ordered by id"):
        store.container("tenants").scan(Query(order_by="name"))
