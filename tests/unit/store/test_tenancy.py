"""TenantContainer: a repository bound to one tenant cannot name another tenant's data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.store import Query
from shared.store.embedded import EmbeddedStore
from shared.store.tenancy import TenantContainer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path / "store.db")
    yield store
    store.close()


@pytest.mark.parametrize(
    "tenant",
    [
        "",
        "a",  # too short
        "a" * 15,  # too long for the tenant's Key Vault name
        "vestfold-og-telemark",
        "nord--aurdal",  # Key Vault names allow no double hyphen
        "drammen-",
        "Oslo",  # upper case
        "1oslo",  # must start with a letter
        "-oslo",
        "os lo",
        "os_lo",
        "os|lo",  # the partition separator: would let a suffix forge another tenant
        "oslo\n",  # a trailing newline passes a careless `re.match(...$)`
        "tønsberg",  # non-ASCII
        "../oslo",
    ],
)
def test_invalid_tenant_ids_are_rejected(store: EmbeddedStore, tenant: str):
    with pytest.raises(ValueError, match="not a tenant id"):
        TenantContainer(store.container("devices"), tenant)


@pytest.mark.parametrize("tenant", ["ab", "oslo", "midt-telemark", "k3907", "a" * 14])
def test_valid_tenant_ids_are_accepted(store: EmbeddedStore, tenant: str):
    assert TenantContainer(store.container("devices"), tenant).tenant == tenant


def test_tenant_partitioned_container_uses_the_tenant_and_refuses_suffixes(store: EmbeddedStore):
    view = TenantContainer(store.container("devices"), "oslo")
    assert view.partition() == "oslo"
    with pytest.raises(ValueError, match="partitioned by tenant only"):
        view.partition("dev1")
    with pytest.raises(ValueError):
        view.read("d1", "dev1")


def test_finer_partitioned_container_needs_a_suffix_and_prefixes_the_tenant(
    store: EmbeddedStore,
):
    view = TenantContainer(store.container("series"), "oslo")
    assert view.partition("dev1", "2024-05") == "oslo|dev1|2024-05"
    assert view.partition("dev1") == "oslo|dev1"
    with pytest.raises(ValueError, match="needs a partition suffix"):
        view.partition()
    with pytest.raises(ValueError):
        view.upsert({"id": "r1"})


def test_writes_are_stamped_with_the_views_tenant_even_if_the_document_claims_another(
    store: EmbeddedStore,
):
    oslo = TenantContainer(store.container("devices"), "oslo")
    bergen = TenantContainer(store.container("devices"), "bergen")
    written = oslo.create({"id": "d1", "tenant": "bergen"})
    assert written["tenant"] == "oslo"
    assert oslo.read("d1") is not None
    assert bergen.read("d1") is None


def test_series_writes_are_stamped_with_tenant_and_derived_partition(store: EmbeddedStore):
    view = TenantContainer(store.container("series"), "oslo")
    written = view.upsert({"id": "r1", "pk": "bergen|dev1|2024-05"}, "dev1", "2024-05")
    assert (written["tenant"], written["pk"]) == ("oslo", "oslo|dev1|2024-05")
    assert store.container("series").read("bergen|dev1|2024-05", "r1") is None
    assert view.read("r1", "dev1", "2024-05") is not None


def test_every_operation_stays_inside_the_tenant(store: EmbeddedStore):
    oslo = TenantContainer(store.container("devices"), "oslo")
    bergen = TenantContainer(store.container("devices"), "bergen")
    for view in (oslo, bergen):
        view.create({"id": "d1", "area": "x"})
    bergen.create({"id": "d2", "area": "x"})

    assert [d["tenant"] for d in oslo.query(Query(where={"area": "x"})).items] == ["oslo"]
    assert oslo.count(Query()) == 1
    assert [d["id"] for d in oslo.read_many(["d1", "d2"])] == ["d1"]
    assert oslo.delete("d2") is False
    created = oslo.read("d1")
    assert created is not None
    replaced = oslo.replace({"id": "d1", "area": "y"}, etag=created["_etag"])
    assert replaced["tenant"] == "oslo"
    assert (bergen.read("d1") or {})["area"] == "x"


def test_a_tenant_view_offers_no_cross_partition_scan(store: EmbeddedStore):
    assert not hasattr(TenantContainer(store.container("tenants"), "oslo"), "scan")
