"""Cosmos DB adapter of the document store port (Azure Cosmos DB for NoSQL, sync SDK).

The only module that imports `azure.cosmos` and `azure.identity` for the store. Choices that are
not obvious from the port:

* Every call is bounded: a connect and a socket read timeout on the client, an absolute timeout
  per operation (the SDK's client-level `timeout` does not bound operations, so it is passed on
  each call), and a bounded throttling retry. A stalled Cosmos costs a function invocation
  seconds, never its whole execution budget.
* The client is created on first use. The SDK's constructor already talks to the account (it
  reads the account's regions), so an eager client would crash the Functions worker at import
  when Cosmos is briefly unreachable, instead of answering `Unavailable` and recovering.
* SDK exceptions become the port's errors at one boundary (`_translated`); a 400 from Cosmos is
  the caller's bad input (bad id, bad continuation token) and becomes `ValueError`, as in the
  embedded store.
* Queries always put the partition key in the WHERE clause as well as passing `partition_key=`:
  real Cosmos routes with the argument, the local test server only honours the clause.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosClientTimeoutError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)
from azure.identity import DefaultAzureCredential

from shared.store import (
    CONTAINER_SPECS,
    CONTAINERS,
    MAX_BATCH,
    Conflict,
    ContainerSpec,
    Document,
    InvalidRequest,
    NotFound,
    Page,
    PreconditionFailed,
    Query,
    StoreError,
    Unavailable,
    Write,
    check_field,
    check_partition,
    check_query,
    check_scan,
    document_key,
    valid_id,
)

if TYPE_CHECKING:
    from shared.settings import Settings

#: Seconds to establish a connection, and to wait for a response once a request is sent.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
#: Default absolute bound of one operation (one query page), retries included.
OPERATION_TIMEOUT = 15.0
#: After a failed connect, calls fail at once for this long instead of each trying again.
RECONNECT_AFTER = 5.0
#: Throttling (429): at most this many retries, each after a fixed pause (milliseconds). The
#: SDK would otherwise sleep as long as the server's x-ms-retry-after-ms asks, past the
#: operation's timeout; a throttled batch is better failed and retried by the trigger.
THROTTLE_RETRIES = 3
THROTTLE_WAIT_MS = 500
THROTTLE_MAX_WAIT = 5  # seconds of pauses in all, and the longest connection-retry backoff

#: Status codes that mean "try again later": timeout, throttled, retry-with, unavailable.
_TRANSIENT = frozenset({408, 429, 449, 503})
#: System properties Cosmos adds that are no business of callers (`_etag` and `_ts` stay).
_SYSTEM_FIELDS = frozenset({"_rid", "_self", "_attachments"})
#: Everything the service owns; never sent back in a write.
_READ_ONLY_FIELDS = _SYSTEM_FIELDS | {"_etag", "_ts"}
#: A transactional batch's request body is at most 2 MB; leave room for the operations' framing.
_BATCH_BYTES = 1_800_000
#: Statuses of a batch's operation that was not applied: its own precondition failed (not found,
#: conflict, stale ETag), or another operation's did (424 Failed Dependency).
_NOT_APPLIED = frozenset({404, 409, 412, 424})
#: Sub-status of a 404 whose container or database is missing (rather than the item).
_OWNER_MISSING = 1003
#: Characters Cosmos does not allow in an item id (they break the resource URL).


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Map SDK and transport errors onto the port's errors: the adapter's single boundary."""
    try:
        yield
    except CosmosResourceNotFoundError as exc:
        if exc.sub_status == _OWNER_MISSING:  # a wrong database or container name, not "absent"
            raise StoreError(f"{what}: the database or container does not exist") from exc
        raise NotFound(f"{what}: not found") from exc
    except CosmosResourceExistsError as exc:
        raise Conflict(f"{what}: already exists") from exc
    except CosmosAccessConditionFailedError as exc:
        raise PreconditionFailed(f"{what}: changed since read") from exc
    except (CosmosHttpResponseError, CosmosBatchOperationError) as exc:
        if exc.status_code in _TRANSIENT:
            raise Unavailable(f"{what}: Cosmos DB answered {exc.status_code}") from exc
        if exc.status_code in (400, 413):  # 413: a document over 2 MB
            message = exc.http_error_message
            raise InvalidRequest(f"{what}: rejected by Cosmos DB: {message}") from exc
        raise StoreError(f"{what}: Cosmos DB answered {exc.status_code}") from exc
    except (ServiceRequestError, ServiceResponseError, CosmosClientTimeoutError) as exc:
        raise Unavailable(f"{what}: {type(exc).__name__}: {exc.message}") from exc
    except AzureError as exc:  # e.g. the credential could not get a token
        raise StoreError(f"{what}: {type(exc).__name__}: {exc.message}") from exc


def _wrapped(token: str | None) -> str | None:
    """A Cosmos continuation as the API hands it out: base64url, so that what comes back can be
    checked before it reaches a request header."""
    return base64.urlsafe_b64encode(token.encode()).decode() if token is not None else None


def _unwrapped(token: str | None) -> str | None:
    """A continuation handed back, or InvalidRequest: text that is not one of ours would fail
    in the SDK's request headers as a 500 (not Latin-1) or a retried 503 (a line break)."""
    if not token:  # `?continuation=` given empty: the first page, as on the embedded store
        return None
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        text = raw.decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise InvalidRequest("invalid continuation token") from exc
    if not text or not text.isprintable():
        raise InvalidRequest("invalid continuation token")
    return text


def _after_id(token: str) -> str:
    """The last id of the previous page of a scan, from its continuation."""
    try:
        after = orjson.loads(_unwrapped(token) or "")
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("invalid continuation token") from exc
    if not (isinstance(after, list) and len(after) == 1 and isinstance(after[0], str)):
        raise InvalidRequest("invalid continuation token")
    return after[0]


def _batches(writes: Sequence[Write]) -> Iterator[Sequence[Write]]:
    """Consecutive runs of at most MAX_BATCH writes and about _BATCH_BYTES of documents (a
    single larger document goes alone; Cosmos limits a document to 2 MB anyway)."""
    start, size = 0, 0
    for index, write in enumerate(writes):
        length = len(orjson.dumps(write.doc))
        if index > start and (index - start == MAX_BATCH or size + length > _BATCH_BYTES):
            yield writes[start:index]
            start, size = index, 0
        size += length
    if start < len(writes):
        yield writes[start:]


def _operation(body: Document, etag: str | None) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    if etag is None:
        return ("create", (body,), {})
    return ("replace", (body["id"], body), {"if_match_etag": etag})


def _written(body: Document, result: Mapping[str, Any]) -> Document:
    """A batch operation's document as written: the body Cosmos returns, or (should it return
    none, as with content responses turned off) the one sent with the new ETag."""
    returned = result.get("resourceBody")
    if returned is None:
        return {**body, "_etag": result["eTag"]}
    return _public(returned)


def _is_loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _path(field: str) -> str:
    """`c["field"]`: bracket notation, so fields named like SQL keywords (`value`) still work."""
    return f'c["{check_field(field)}"]'


def _selection(fields: tuple[str, ...] | None) -> str:
    """What a query selects: whole documents, or a projection's fields (an item lacks those
    its document lacks, as Cosmos leaves undefined values out)."""
    return "*" if fields is None else ", ".join(_path(name) for name in fields)


def _with_id(fields: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A scan's projection with `id` too: the page's last id is where the next page starts."""
    return None if fields is None else tuple(dict.fromkeys((*fields, "id")))


def _asked(fields: tuple[str, ...] | None, docs: list[Document]) -> list[Document]:
    """A scan's items with only the fields its projection asked for (`_with_id`)."""
    if fields is None or "id" in fields:
        return docs
    return [{k: v for k, v in doc.items() if k != "id"} for doc in docs]


def _public(doc: Mapping[str, Any]) -> Document:
    return {k: v for k, v in doc.items() if k not in _SYSTEM_FIELDS}


def indexing_policy(spec: ContainerSpec) -> dict[str, Any]:
    """Index only what queries filter or sort on (and the partition key): cheaper writes.

    Cosmos cannot ORDER BY an unindexed path, which is why the port only orders by `indexed`.
    """
    paths = sorted({spec.partition_key, *spec.indexed})
    return {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": f"/{name}/?"} for name in paths],
        "excludedPaths": [{"path": "/*"}, {"path": '/"_etag"/?'}],
    }


class _Sql:
    """A parameterised query under construction; values never enter the SQL text."""

    def __init__(self, select: str) -> None:
        self._select = select
        self._clauses: list[str] = []
        self.parameters: list[dict[str, Any]] = []

    def param(self, value: Any) -> str:
        name = f"@p{len(self.parameters)}"
        self.parameters.append({"name": name, "value": value})
        return name

    def where(self, clause: str) -> None:
        self._clauses.append(clause)

    def text(self, order: str = "") -> str:
        where = f" WHERE {' AND '.join(self._clauses)}" if self._clauses else ""
        # Safe: field names are validated identifiers (`_path`), values are parameters.
        return f"SELECT {self._select} FROM c{where}{order}"  # noqa: S608


def _filtered(select: str, partition: tuple[str, str] | None, query: Query) -> _Sql:
    sql = _Sql(select)
    if partition is not None:
        field, value = partition
        sql.where(f"{_path(field)} = {sql.param(value)}")
    for name, value in query.where.items():
        path = _path(name)
        if value is None:  # as in the embedded store: absent and null both count as None
            sql.where(f"(NOT IS_DEFINED({path}) OR IS_NULL({path}))")
        else:
            sql.where(f"{path} = {sql.param(value)}")
    for name, (low, high) in query.range.items():
        if low is not None:
            sql.where(f"{_path(name)} >= {sql.param(low)}")
        if high is not None:
            sql.where(f"{_path(name)} <= {sql.param(high)}")
    return sql


class CosmosContainer:
    """One Cosmos container behind the `Container` port."""

    def __init__(self, store: CosmosStore, spec: ContainerSpec) -> None:
        self._store = store
        self.spec = spec
        self._timeout = store.operation_timeout

    def _items(self) -> ContainerProxy:
        return self._store._connected().get_container_client(self.spec.name)

    def _what(self, partition: str | None, id: str | None = None) -> str:
        return "/".join(p for p in (self.spec.name, partition, id) if p is not None)

    def _outgoing(self, doc: Document) -> tuple[Document, str]:
        partition, id = document_key(self.spec, doc)
        body = {k: v for k, v in doc.items() if k not in _READ_ONLY_FIELDS}
        return body, self._what(partition, id)

    def _orderable(self, query: Query) -> str:
        if query.order_by is None:
            return ""
        return f" ORDER BY {_path(query.order_by)} {'DESC' if query.descending else 'ASC'}"

    def read(self, partition: str, id: str) -> Document | None:
        if not valid_id(id):  # no such document can exist; and it would not fit in the URL
            return None
        try:
            with _translated(f"read {self._what(partition, id)}"):
                doc = self._items().read_item(id, partition_key=partition, timeout=self._timeout)
        except NotFound:
            return None
        return _public(doc)

    def read_many(self, partition: str, ids: Sequence[str]) -> list[Document]:
        return [_public(doc) for doc in self._by_ids("*", partition, ids, "read_many")]

    def etags(self, partition: str, ids: Sequence[str]) -> dict[str, str]:
        rows = self._by_ids('c["id"], c["_etag"]', partition, ids, "etags")
        return {row["id"]: row["_etag"] for row in rows}

    def _by_ids(self, select: str, partition: str, ids: Sequence[str], what: str) -> list[Any]:
        """What a query selects of the documents of these ids in one partition (one page)."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return []
        sql = _filtered(select, (self.spec.partition_key, partition), Query())
        sql.where(f'ARRAY_CONTAINS({sql.param(unique)}, c["id"])')
        with _translated(f"{what} {self._what(partition)}"):
            return list(
                self._items().query_items(
                    sql.text(),
                    parameters=sql.parameters,
                    partition_key=partition,
                    max_item_count=len(unique),
                    timeout=self._timeout,
                )
            )

    def create(self, doc: Document) -> Document:
        body, what = self._outgoing(doc)
        with _translated(f"create {what}"):
            return _public(self._items().create_item(body, timeout=self._timeout))

    def upsert(self, doc: Document) -> Document:
        body, what = self._outgoing(doc)
        with _translated(f"upsert {what}"):
            return _public(self._items().upsert_item(body, timeout=self._timeout))

    def replace(self, doc: Document, *, etag: str | None = None) -> Document:
        body, what = self._outgoing(doc)
        condition: dict[str, Any] = (
            {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            if etag is not None
            else {}
        )
        with _translated(f"replace {what}"):
            return _public(
                self._items().replace_item(body["id"], body, timeout=self._timeout, **condition)
            )

    def write_all(self, partition: str, writes: Sequence[Write]) -> list[Document | None]:
        check_partition(self.spec, partition, writes)
        written: list[Document | None] = []
        for batch in _batches(writes):
            bodies = [(self._outgoing(write.doc)[0], write.etag) for write in batch]
            with _translated(f"batch of {len(batch)} in {self._what(partition)}"):
                written += self._execute(partition, bodies)
        return written

    def _execute(
        self, partition: str, bodies: list[tuple[Document, str | None]]
    ) -> list[Document | None]:
        """One transactional batch: the written documents, None where an operation failed."""
        operations = [_operation(body, etag) for body, etag in bodies]
        try:
            results = self._items().execute_item_batch(
                operations, partition_key=partition, timeout=self._timeout
            )
        except CosmosBatchOperationError as exc:
            results = exc.operation_responses
            statuses = {int(result["statusCode"]) for result in results}
            if not statuses <= _NOT_APPLIED | {200, 201}:
                raise  # e.g. throttled (429) or too large (413): the batch's own error
        # A failed batch is rolled back, so every operation answers 424 or its own error; a
        # success status there would be a server that applied part of a batch (the local test
        # server does): what it applied is reported as written.
        return [
            _written(body, result) if int(result["statusCode"]) < 300 else None
            for (body, _), result in zip(bodies, results, strict=True)
        ]

    def delete(self, partition: str, id: str, *, etag: str | None = None) -> bool:
        if not valid_id(id):
            return False
        condition: dict[str, Any] = (
            {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            if etag is not None
            else {}
        )
        try:
            with _translated(f"delete {self._what(partition, id)}"):
                self._items().delete_item(
                    id, partition_key=partition, timeout=self._timeout, **condition
                )
        except NotFound:
            return False
        return True

    def _page(
        self, sql: _Sql, query: Query, limit: int, continuation: str | None, **scope: Any
    ) -> Page:
        check_query(self.spec, query, limit)
        tokens: list[str | None] = []

        def remember(headers: Mapping[str, Any], _: object) -> None:
            # This request's own token: the client's `last_response_headers`, which the page
            # iterator reads, is shared by every thread, so another request may have set it.
            tokens.append(headers.get("x-ms-continuation"))

        pages = (
            self._items()
            .query_items(
                sql.text(self._orderable(query)),
                parameters=sql.parameters,
                max_item_count=limit,
                timeout=self._timeout,
                response_hook=remember,
                **scope,
            )
            .by_page(_unwrapped(continuation))
        )
        # Cosmos may answer a page with no items but a continuation (a partition range with no
        # match); skip those so callers only see an empty page at the end.
        for page in pages:
            items = [_public(doc) for doc in page]
            token = tokens[-1] if tokens else None
            if items or token is None:
                return Page(items, _wrapped(token))
        return Page([], None)

    def query(
        self, partition: str, query: Query, *, limit: int = 100, continuation: str | None = None
    ) -> Page:
        sql = _filtered(_selection(query.fields), (self.spec.partition_key, partition), query)
        with _translated(f"query {self._what(partition)}"):
            return self._page(sql, query, limit, continuation, partition_key=partition)

    def scan(self, query: Query, *, limit: int = 100, continuation: str | None = None) -> Page:
        """Pages by id, each page a query of its own (`id > the last id`, TOP limit + 1):
        the SDK's continuation of a cross-partition ORDER BY query can skip items (it resumes
        after the block it read ahead to merge the partitions)."""
        check_scan(query)
        check_query(self.spec, query, limit)
        sql = _filtered(f"TOP {limit + 1} {_selection(_with_id(query.fields))}", None, query)
        if continuation:
            sql.where(f"c.id > {sql.param(_after_id(continuation))}")
        with _translated(f"scan {self.spec.name}"):
            found = [
                _public(doc)
                for doc in self._items().query_items(
                    sql.text(" ORDER BY c.id"),
                    parameters=sql.parameters,
                    enable_cross_partition_query=True,
                    timeout=self._timeout,
                )
            ]
        items = found[:limit]
        if len(found) <= limit:  # the last page (or none: nothing matched)
            return Page(_asked(query.fields, items), None)
        last = json.dumps([items[-1]["id"]])  # ASCII (ids need not be): tokens are checked so
        return Page(_asked(query.fields, items), _wrapped(last))

    def count(self, partition: str, query: Query) -> int:
        sql = _filtered("VALUE COUNT(1)", (self.spec.partition_key, partition), query)
        with _translated(f"count {self._what(partition)}"):
            counts = self._items().query_items(
                sql.text(),
                parameters=sql.parameters,
                partition_key=partition,
                timeout=self._timeout,
            )
            return sum(int(n) for n in counts)


class CosmosStore:
    """A Cosmos DB account's database behind the `DocumentStore` port.

    `credential` is the account key (local emulators, tests) or a `TokenCredential` (Azure:
    managed identity). `ensure_containers` creates the database and every container in
    `CONTAINERS` on first use; only key auth may do that (in Azure the containers come from
    Bicep and the data-plane role cannot create them). `verify_tls=False` is for a loopback test
    server with a self-signed certificate and is refused for any other endpoint. `transport`
    replaces the SDK's HTTP transport (azure-core), e.g. to count the requests actually sent.
    """

    def __init__(
        self,
        endpoint: str,
        credential: str | TokenCredential,
        database: str,
        *,
        verify_tls: bool = True,
        ensure_containers: bool = False,
        operation_timeout: float = OPERATION_TIMEOUT,
        transport: HttpTransport | None = None,
    ) -> None:
        loopback = _is_loopback(endpoint)
        if not verify_tls and not loopback:
            raise ValueError(f"TLS verification can only be turned off for loopback: {endpoint}")
        self.endpoint = endpoint
        self.database_name = database
        self.operation_timeout = operation_timeout
        self._credential = credential
        self._client_options: dict[str, Any] = {
            "connection_verify": verify_tls,
            # Endpoint discovery would redirect to the regional endpoints the account reports;
            # a loopback server reports itself under another name.
            "enable_endpoint_discovery": not loopback,
            "connection_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "retry_total": THROTTLE_RETRIES,
            "retry_fixed_interval": THROTTLE_WAIT_MS,
            "retry_backoff_max": THROTTLE_MAX_WAIT,
            "user_agent_suffix": "smartby",
        }
        if transport is not None:
            self._client_options["transport"] = transport
        self._ensure_containers = ensure_containers
        self._owned_credential: DefaultAzureCredential | None = None
        self._lock = threading.Lock()
        self._connect_failed_at = -RECONNECT_AFTER
        self._client: CosmosClient | None = None
        self._database: DatabaseProxy | None = None
        self._containers = {
            name: CosmosContainer(self, spec) for name, spec in CONTAINER_SPECS.items()
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> CosmosStore:
        """Key auth when `COSMOS__accountKey` is set (local), else managed identity (Azure)."""
        if not settings.cosmos_endpoint:
            raise ValueError("COSMOS__accountEndpoint is not set")
        if settings.cosmos_key is not None:
            return cls(
                settings.cosmos_endpoint,
                settings.cosmos_key.get_secret_value(),
                settings.cosmos_database,
                verify_tls=settings.cosmos_verify_tls,
                ensure_containers=True,
            )
        identity = DefaultAzureCredential(
            managed_identity_client_id=settings.managed_identity_client_id
        )
        store = cls(
            settings.cosmos_endpoint,
            identity,
            settings.cosmos_database,
            verify_tls=settings.cosmos_verify_tls,
        )
        store._owned_credential = identity
        return store

    @property
    def ensures_containers(self) -> bool:
        return self._ensure_containers

    def _connected(self) -> DatabaseProxy:
        """The database client, connecting (and creating containers if asked) on first use.

        One caller connects. The others wait for it at most an operation's timeout, and for
        RECONNECT_AFTER after a failed connect, fail at once: a Cosmos DB that does not answer
        costs each call one timeout, not one for every caller queued before it."""
        if self._database is not None:
            return self._database
        if not self._lock.acquire(timeout=self.operation_timeout):
            raise Unavailable(f"connecting to {self.endpoint} takes too long")
        try:
            if self._database is None:
                if time.monotonic() - self._connect_failed_at < RECONNECT_AFTER:
                    raise Unavailable(f"connecting to {self.endpoint} failed moments ago")
                try:
                    self._database = self._connect()
                except BaseException:
                    self._connect_failed_at = time.monotonic()
                    raise
            return self._database
        finally:
            self._lock.release()

    def _connect(self) -> DatabaseProxy:
        with _translated(f"connect to {self.endpoint}"):
            client = CosmosClient(
                self.endpoint, credential=self._credential, **self._client_options
            )
            try:
                database = self._open(client)
            except BaseException:
                client.close()
                raise
            self._client = client
            return database

    def _open(self, client: CosmosClient) -> DatabaseProxy:
        if not self._ensure_containers:
            return client.get_database_client(self.database_name)
        database = client.create_database_if_not_exists(
            self.database_name, timeout=self.operation_timeout
        )
        for spec in CONTAINERS:
            database.create_container_if_not_exists(
                spec.name,
                partition_key=PartitionKey(path=f"/{spec.partition_key}"),
                indexing_policy=indexing_policy(spec),
                default_ttl=spec.default_ttl,
                timeout=self.operation_timeout,
            )
        return database

    def container(self, name: str) -> CosmosContainer:
        return self._containers[name]

    def batch(self) -> AbstractContextManager[None]:
        """Nothing to group here: Cosmos' transactional batch is per partition key, and a batch
        of ingest writes spans partitions (`write_all` groups the writes to one partition)."""
        return nullcontext()

    def ping(self) -> None:
        try:
            with _translated(f"ping {self.endpoint}"):
                self._connected().read(timeout=self.operation_timeout)
        except Unavailable:
            raise
        except (StoreError, ValueError) as exc:  # answered, but not as a usable database
            raise Unavailable(str(exc)) from exc

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = self._database = None
            if self._owned_credential is not None:
                self._owned_credential.close()
                self._owned_credential = None
