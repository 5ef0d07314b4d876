"""Document store port: what every capability needs from Cosmos DB, and nothing more.

Two adapters implement it: `shared.store.cosmos` (Azure Cosmos DB for NoSQL) and
`shared.store.embedded` (SQLite on disk, the local runtime). One contract test suite runs against
both (`tests/integration/store`).

Rules the port enforces by its shape:

* Every read, write and query names its partition. There is no cross-partition query except
  `Container.scan`, which is for platform-level catalogues (the tenant list) only.
* Domain code never holds a `Container` of tenant data: it holds a `TenantContainer`
  (`shared.store.tenancy`), which is bound to one tenant at construction and derives every
  partition key from it, so a repository for tenant A cannot name tenant B's data.

Documents are plain JSON objects with an `id`; the store adds `_etag` (optimistic concurrency)
and honours an optional integer `ttl` (seconds, Cosmos semantics: the document expires that long
after its last write; -1 never).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

Document = dict[str, Any]


class StoreError(Exception):
    """Base of the store's errors; adapters map their SDK's exceptions onto these."""


class Conflict(StoreError):
    """`create` of an id that exists in that partition."""


class PreconditionFailed(StoreError):
    """`replace` with an `etag` that is no longer current (someone else wrote first)."""


class NotFound(StoreError):
    """`replace` of a document that does not exist."""


class InvalidRequest(StoreError, ValueError):
    """The caller's input cannot be served, e.g. a continuation token that was not ours, or a
    document larger than Cosmos DB stores."""


class Unavailable(StoreError):
    """A transient failure (throttling, timeout, connection); safe to retry."""


T = TypeVar("T")


def until_unchanged(write: Callable[[], T], attempts: int) -> T:
    """`write()` (a read, a change, and a write guarded by the ETag read) again while another
    writer gets in between (PreconditionFailed), after a growing random pause; the last
    PreconditionFailed is raised."""
    for attempt in range(attempts):
        if attempt:
            pause_before_retry(attempt)
        try:
            return write()
        except PreconditionFailed:
            if attempt == attempts - 1:
                raise
    raise ValueError("attempts must be at least 1")


def pause_before_retry(attempt: int, base_s: float = 0.005) -> None:
    """Before writing again after a PreconditionFailed: a random pause that doubles with each
    attempt (from 1), so that two writers contending for one document do not collide again."""
    time.sleep(random.uniform(0, base_s * 2**attempt))  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """A container's name, its partition key field and its default TTL (None: no expiry)."""

    name: str
    partition_key: str = "tenant"
    default_ttl: int | None = None
    #: Fields that queries filter or sort on; the embedded store indexes these, Cosmos indexing
    #: policies in infra/ include exactly these paths.
    indexed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Document]
    continuation: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    """An equality filter within one partition, optionally ordered; values are parameters.

    `where` maps a top-level field to the value it must equal; `range` maps a field to an
    inclusive (low, high) pair where either side may be None.

    `fields` projects: each item found holds only those top-level fields, the ones it has (an
    absent field stays absent, never null), and no `_etag`; no more of each document than that
    comes out of the store, where a whole one can be megabytes. A projected item is read-only: never
    write it back, it would drop every field it lacks (and without `_etag` no guarded write can
    take it).
    """

    where: Mapping[str, Any] = field(default_factory=dict)
    range: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    order_by: str | None = None
    descending: bool = False
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """One write of `Container.write_all`: create `doc` when `etag` is None, else replace it,
    but only if it is still at `etag`."""

    doc: Document
    etag: str | None = None


class Container(Protocol):
    spec: ContainerSpec

    def read(self, partition: str, id: str) -> Document | None:
        """The document, or None if absent or expired."""

    def read_many(self, partition: str, ids: Sequence[str]) -> list[Document]:
        """The documents of those ids that exist, in no particular order (one round trip)."""

    def etags(self, partition: str, ids: Sequence[str]) -> dict[str, str]:
        """The current ETag of each of those documents that exists (one round trip, no
        bodies): whether a copy a caller holds is still the stored one."""

    def create(self, doc: Document) -> Document:
        """Insert; raises Conflict if the id exists in the partition. Returns it with `_etag`."""

    def upsert(self, doc: Document) -> Document: ...

    def replace(self, doc: Document, *, etag: str | None = None) -> Document:
        """Overwrite; with `etag`, only if unchanged since read (else PreconditionFailed)."""

    def write_all(self, partition: str, writes: Sequence[Write]) -> list[Document | None]:
        """Apply writes to documents of one partition in as few requests as the store allows
        (Cosmos: a transactional batch per `MAX_BATCH` writes, the limit of Cosmos itself).

        Result i is write i's document as written, or None when it was not applied: its create
        found the id taken, its ETag was stale, its document was gone, or (Cosmos) another write
        of its transactional batch failed, which rolls the batch back. Callers read and merge
        again for those. Raises ValueError if a document is not in `partition`.
        """

    def delete(self, partition: str, id: str, *, etag: str | None = None) -> bool:
        """True if a document was deleted. With `etag`, only that version of it: another
        raises PreconditionFailed (someone wrote it since it was read)."""

    def query(
        self, partition: str, query: Query, *, limit: int = 100, continuation: str | None = None
    ) -> Page: ...

    def count(self, partition: str, query: Query) -> int: ...

    def scan(
        self, query: Query, *, limit: int = 100, continuation: str | None = None
    ) -> Page:
        """Cross-partition query, in id order: platform catalogues only (never tenant data)."""


class DocumentStore(Protocol):
    def container(self, name: str) -> Container:
        """The container of that name (KeyError for a name not in `CONTAINERS`)."""

    def ping(self) -> None:
        """Raise Unavailable unless the store answers."""

    def batch(self) -> AbstractContextManager[None]:
        """Group the writes made in the block where the adapter can: the embedded store commits
        them as one SQLite transaction (once per ingest batch, not once per document); on Cosmos
        each write stays its own request (`Container.write_all` is how writes to one partition
        share one). Nests. Callers must not rely on a rollback: on Cosmos the writes before an
        exception stay written."""

    def close(self) -> None: ...


#: Every container the platform uses. Partition keys: per tenant, except time series, which are
#: partitioned per device and time bucket so that the hot write path is single-partition and no
#: logical partition grows without bound.
CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("tenants", indexed=("id",)),
    ContainerSpec("apikeys", indexed=("created",)),
    ContainerSpec("devices", indexed=("id", "area")),
    ContainerSpec("latest", indexed=("device", "area", "openBucket")),
    ContainerSpec("quarantine", default_ttl=30 * 24 * 3600, indexed=("reason", "received")),
    ContainerSpec("series", partition_key="pk", default_ttl=-1, indexed=("bucket",)),
)

CONTAINER_SPECS: Mapping[str, ContainerSpec] = {spec.name: spec for spec in CONTAINERS}


# The rules both adapters enforce the same way, so a document or query the embedded store
# accepts locally is one Cosmos DB accepts in Azure.
#: Cosmos cannot address ids with these; its SDK refuses tabs and line breaks, and a trailing
#: space or line break.
_BAD_ID_CHARS = re.compile(r"[/\\?#\t\r\n]|[ \n]$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_PAGE = 1000
#: Writes per transactional batch: the most Cosmos DB accepts in one.
MAX_BATCH = 100
#: The largest document Cosmos DB stores (2 MB, its JSON with the system properties; the
#: serialised body counted here leaves those a few hundred bytes).
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024 - 1024


def valid_id(id: str) -> bool:
    return bool(id) and _BAD_ID_CHARS.search(id) is None


def document_key(spec: ContainerSpec, doc: Document) -> tuple[str, str]:
    """The (partition, id) a document is written under; ValueError if it has none usable."""
    partition = doc.get(spec.partition_key)
    id = doc.get("id")
    if not isinstance(partition, str) or not isinstance(id, str):
        raise ValueError(f"document needs string 'id' and '{spec.partition_key}'")
    if not valid_id(id):
        raise ValueError(
            f"not a valid id (empty, has / \\ ? #, a tab or a line break, or ends in a space): "
            f"{id!r}"
        )
    return partition, id


def check_partition(spec: ContainerSpec, partition: str, writes: Sequence[Write]) -> None:
    """Every document of a `write_all` is in its partition (and has a usable id)."""
    for write in writes:
        if document_key(spec, write.doc)[0] != partition:
            raise ValueError(f"{spec.name}: a document of another partition than {partition!r}")


def check_field(name: str) -> str:
    if not _FIELD.fullmatch(name):
        raise ValueError(f"not a queryable field: {name!r}")
    return name


def check_projection(fields: tuple[str, ...]) -> None:
    """A projection names one or more distinct fields; `_etag` is not one (it is what a write
    would take, and a projected document is not for writing)."""
    if not fields or len(set(fields)) < len(fields) or "_etag" in fields:
        raise ValueError(f"a projection names distinct fields, at least one, not _etag: {fields}")


def check_scan(query: Query) -> None:
    """A cross-partition scan pages by id, the one order both stores can resume exactly."""
    if query.order_by not in (None, "id") or query.descending:
        raise ValueError("a scan is ordered by id, ascending")


def check_query(spec: ContainerSpec, query: Query, limit: int) -> None:
    """Field names are identifiers, a sort field is indexed (Cosmos cannot ORDER BY a path its
    indexing policy excludes), a projection is usable, and a page holds 1..MAX_PAGE items."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be within 1..{MAX_PAGE}")
    for name in (*query.where, *query.range, *(query.fields or ())):
        check_field(name)
    if query.fields is not None:
        check_projection(query.fields)
    if query.order_by is not None:
        check_field(query.order_by)
        if query.order_by not in (spec.partition_key, *spec.indexed):
            raise ValueError(f"{spec.name} cannot order by unindexed {query.order_by!r}")
