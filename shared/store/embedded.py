"""Embedded document store: SQLite on disk, the local runtime's stand-in for Cosmos DB.

One table per container holding (partition, id, etag, expiry, JSON body). It implements the same
contract as the Cosmos adapter, including ETag preconditions and Cosmos TTL semantics (container
TTL off: item `ttl` ignored; -1: items expire only with their own `ttl`; n: default n seconds),
so the contract tests pin one behaviour for both.
"""

from __future__ import annotations

import base64
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from shared.private_files import private_database
from shared.store import (
    CONTAINER_SPECS,
    MAX_DOCUMENT_BYTES,
    Conflict,
    ContainerSpec,
    Document,
    InvalidRequest,
    NotFound,
    Page,
    PreconditionFailed,
    Query,
    Unavailable,
    Write,
    check_field,
    check_partition,
    check_query,
    check_scan,
    document_key,
)

_PURGE_EVERY_WRITES = 5_000


def _field(name: str, indexed: tuple[str, ...] = ()) -> str:
    """The SQL for a document field: its own column when the container indexes it (written
    from Python on every write, so SQLite never parses the JSON body to maintain an index),
    else `json_extract` over the body."""
    check_field(name)
    if name == "id":
        return "id"
    if name in indexed:
        return f"ix_{name}"
    return f"json_extract(body, '$.{name}')"


def _document_columns(fields: tuple[str, ...] | None) -> str:
    """The SQL columns a query reads each document from: its body and ETag, or for a
    projection those fields' values (a JSON array) and JSON types (null: absent), which SQLite
    reads out of the body: only they reach Python to be parsed, however large the document.

    `json_extract` with two paths or more answers JSON text, which keeps numbers and strings as
    stored; with one it gives an SQL value (a float to 15 digits, a string cut at a NUL), so
    `$.id` comes first."""
    if fields is None:
        return "body, etag"
    paths = [f"'$.{check_field(name)}'" for name in fields]
    types = ", ".join(f"json_type(body, {path})" for path in paths)
    return f"json_extract(body, '$.id', {', '.join(paths)}), json_array({types})"


def _sql_value(value: Any) -> Any:
    """A document value as `json_extract` would give it to SQL (1/0 for booleans, JSON text for
    objects and arrays), so indexed columns and unindexed fields compare alike."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def _where(query: Query, indexed: tuple[str, ...]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for name, value in query.where.items():
        if value is None:
            clauses.append(f"{_field(name, indexed)} IS NULL")
        else:
            clauses.append(f"{_field(name, indexed)} = ?")
            params.append(_sql_value(value))
    for name, (low, high) in query.range.items():
        if low is not None:
            clauses.append(f"{_field(name, indexed)} >= ?")
            params.append(low)
        if high is not None:
            clauses.append(f"{_field(name, indexed)} <= ?")
            params.append(high)
    return "".join(f" AND {c}" for c in clauses), params


_SQLITE_INT_MIN, _SQLITE_INT_MAX = -(2**63), 2**63 - 1


def _encode_position(row: tuple[Any, ...]) -> str:
    """A continuation token: the last row's sort key (its order field's value, pk, id)."""
    return base64.urlsafe_b64encode(orjson.dumps(list(row))).decode()


def _decode_position(token: str, ordered: bool) -> list[Any]:
    try:
        position = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidRequest("invalid continuation token") from exc
    size = 3 if ordered else 2
    if (
        not isinstance(position, list)
        or len(position) != size
        or not all(isinstance(part, str) for part in position[-2:])
        or (ordered and not isinstance(position[0], str | int | float | None))
        or (isinstance(position[0], int) and not _SQLITE_INT_MIN <= position[0] <= _SQLITE_INT_MAX)
    ):
        raise InvalidRequest("invalid continuation token")
    return position


def _after(order: str | None, descending: bool, position: list[Any]) -> tuple[str, list[Any]]:
    """The SQL for "after this sort key" in `ORDER BY order [DESC], pk, id`, where SQLite puts
    NULLs first ascending and last descending. Paging by key, not by offset: a document written
    or deleted between two pages neither repeats nor hides another."""
    key = "(pk, id) > (?, ?)"
    if order is None:
        return key, position
    value, *last = position
    if value is None:
        if descending:
            return f"({order} IS NULL AND {key})", last
        return f"({order} IS NOT NULL OR {key})", last
    beyond = "<" if descending else ">"
    nulls_after = f" OR {order} IS NULL" if descending else ""
    return f"({order} {beyond} ? OR ({order} = ? AND {key}){nulls_after})", [value, value, *last]


class EmbeddedContainer:
    def __init__(self, store: EmbeddedStore, spec: ContainerSpec) -> None:
        self._store = store
        self.spec = spec
        self._table = f"c_{spec.name}"
        #: Indexed fields stored in columns of their own (`id` has its column already).
        self.index_fields = tuple(name for name in spec.indexed if name != "id")
        columns = "".join(f", ix_{name}" for name in self.index_fields)
        self._insert = (
            f"INTO {self._table} (pk, id, etag, expires, body{columns}) "
            f"VALUES (?,?,?,?,?{',?' * len(self.index_fields)})"
        )
        assignments = "etag = ?, expires = ?, body = ?" + "".join(
            f", ix_{name} = ?" for name in self.index_fields
        )
        self._update = (
            f"UPDATE {self._table} SET {assignments} WHERE pk = ? AND id = ? AND {self._live()}"
        )
        self._update_if_match = self._update + " AND etag = ?"

    def _expiry(self, doc: Document, now: float) -> float | None:
        default = self.spec.default_ttl
        if default is None:
            return None
        ttl = doc.get("ttl", default)
        if not isinstance(ttl, int) or ttl == -1:
            return None
        return now + ttl

    def _row(self, body: bytes, etag: str) -> Document:
        doc = orjson.loads(body)
        doc["_etag"] = etag
        return doc

    def _live(self) -> str:
        return "(expires IS NULL OR expires > ?)"

    def read(self, partition: str, id: str) -> Document | None:
        row = self._store.fetchone(
            f"SELECT body, etag FROM {self._table} WHERE pk = ? AND id = ? AND {self._live()}",
            (partition, id, time.time()),
        )
        return self._row(*row) if row else None

    def read_many(self, partition: str, ids: Sequence[str]) -> list[Document]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._store.fetchall(
            f"SELECT body, etag FROM {self._table} WHERE pk = ? AND id IN ({marks}) "
            f"AND {self._live()}",
            (partition, *ids, time.time()),
        )
        return [self._row(*row) for row in rows]

    def etags(self, partition: str, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._store.fetchall(
            f"SELECT id, etag FROM {self._table} WHERE pk = ? AND id IN ({marks}) "
            f"AND {self._live()}",
            (partition, *ids, time.time()),
        )
        return dict(rows)

    def _prepare(
        self, doc: Document
    ) -> tuple[str, str, bytes, float | None, str, tuple[Any, ...], Document]:
        """What a write stores, and the document it returns (the stored copy with its new
        `_etag`, so a write never parses back the JSON it just made)."""
        partition, id = document_key(self.spec, doc)
        now = time.time()
        body = dict(doc)
        body.pop("_etag", None)
        body["_ts"] = int(now)
        index = tuple([_sql_value(doc.get(name)) for name in self.index_fields])
        serialised = orjson.dumps(body)
        if len(serialised) > MAX_DOCUMENT_BYTES:  # as Cosmos DB refuses it (413)
            raise InvalidRequest(
                f"{self.spec.name}/{partition}/{id} is {len(serialised)} bytes, over "
                f"{MAX_DOCUMENT_BYTES}"
            )
        body["_etag"] = etag = self._store.next_etag()
        return partition, id, serialised, self._expiry(doc, now), etag, index, body

    def create(self, doc: Document) -> Document:
        partition, id, body, expires, etag, index, written = self._prepare(doc)
        row = (partition, id, etag, expires, body, *index)
        with self._store.writing() as db:
            try:
                db.execute(f"INSERT {self._insert}", row)
            except sqlite3.IntegrityError:
                # Taken, but perhaps only by an expired document not purged yet: that one goes.
                expired = db.execute(
                    f"DELETE FROM {self._table} WHERE pk = ? AND id = ? AND expires <= ?",
                    (partition, id, time.time()),
                ).rowcount
                if not expired:
                    raise Conflict(f"{self.spec.name}/{partition}/{id} exists") from None
                db.execute(f"INSERT {self._insert}", row)
        return written

    def upsert(self, doc: Document) -> Document:
        partition, id, body, expires, etag, index, written = self._prepare(doc)
        with self._store.writing() as db:
            db.execute(
                f"INSERT OR REPLACE {self._insert}", (partition, id, etag, expires, body, *index)
            )
        return written

    def replace(self, doc: Document, *, etag: str | None = None) -> Document:
        partition, id, body, expires, new_etag, index, written = self._prepare(doc)
        params: list[Any] = [new_etag, expires, body, *index, partition, id, time.time()]
        sql = self._update
        if etag is not None:
            sql = self._update_if_match
            params.append(etag)
        with self._store.writing() as db:
            if db.execute(sql, params).rowcount == 1:
                return written
            exists = db.execute(
                f"SELECT 1 FROM {self._table} WHERE pk = ? AND id = ? AND {self._live()}",
                (partition, id, time.time()),
            ).fetchone()
        if exists:
            raise PreconditionFailed(f"{self.spec.name}/{partition}/{id} changed since read")
        raise NotFound(f"{self.spec.name}/{partition}/{id} does not exist")

    def write_all(self, partition: str, writes: Sequence[Write]) -> list[Document | None]:
        """One SQLite transaction; unlike a Cosmos batch, a failed write leaves the others."""
        check_partition(self.spec, partition, writes)
        written: list[Document | None] = []
        with self._store.writing():
            for write in writes:
                try:
                    if write.etag is None:
                        written.append(self.create(write.doc))
                    else:
                        written.append(self.replace(write.doc, etag=write.etag))
                except (Conflict, PreconditionFailed, NotFound):
                    written.append(None)
        return written

    def delete(self, partition: str, id: str, *, etag: str | None = None) -> bool:
        live = f"pk = ? AND id = ? AND {self._live()}"
        with self._store.writing() as db:
            if etag is None:
                return db.execute(
                    f"DELETE FROM {self._table} WHERE {live}", (partition, id, time.time())
                ).rowcount == 1
            if db.execute(
                f"DELETE FROM {self._table} WHERE {live} AND etag = ?",
                (partition, id, time.time(), etag),
            ).rowcount == 1:
                return True
            exists = db.execute(
                f"SELECT 1 FROM {self._table} WHERE {live}", (partition, id, time.time())
            ).fetchone()
        if exists:
            raise PreconditionFailed(f"{self.spec.name}/{partition}/{id} changed since read")
        return False

    def _select(
        self, partition: str | None, query: Query, limit: int, continuation: str | None
    ) -> Page:
        check_query(self.spec, query, limit)
        where, params = _where(query, self.index_fields)
        scope = "pk = ? AND " if partition is not None else ""
        field = _field(query.order_by, self.index_fields) if query.order_by else None
        direction = "DESC" if query.descending else "ASC"
        order = f"{field} {direction}, pk, id" if field else "pk, id"
        if continuation:
            position = _decode_position(continuation, field is not None)
            after, after_params = _after(field, query.descending, position)
            where, params = f"{where} AND {after}", [*params, *after_params]
        rows = self._store.fetchall(
            f"SELECT {field or 'NULL'}, pk, id, {_document_columns(query.fields)} "
            f"FROM {self._table} WHERE {scope}{self._live()}{where} ORDER BY {order} LIMIT ?",
            [*([partition] if partition is not None else []), time.time(), *params, limit + 1],
        )
        items = [self._document(query.fields, row[3:]) for row in rows[:limit]]
        if len(rows) <= limit:
            return Page(items, None)
        last = rows[limit - 1][:3]
        return Page(items, _encode_position(last if field else last[1:]))

    def _document(self, fields: tuple[str, ...] | None, columns: Sequence[Any]) -> Document:
        """A row's document (`_document_columns`): whole, with its ETag, or projected."""
        if fields is None:
            return self._row(*columns)
        values, types = orjson.loads(columns[0])[1:], orjson.loads(columns[1])
        return {
            name: value
            for name, value, kind in zip(fields, values, types, strict=True)
            if kind is not None
        }

    def query(
        self, partition: str, query: Query, *, limit: int = 100, continuation: str | None = None
    ) -> Page:
        return self._select(partition, query, limit, continuation)

    def scan(self, query: Query, *, limit: int = 100, continuation: str | None = None) -> Page:
        check_scan(query)
        return self._select(None, replace(query, order_by="id"), limit, continuation)

    def count(self, partition: str, query: Query) -> int:
        where, params = _where(query, self.index_fields)
        row = self._store.fetchone(
            f"SELECT COUNT(*) FROM {self._table} WHERE pk = ? AND {self._live()}{where}",
            (partition, time.time(), *params),
        )
        return int(row[0]) if row else 0


class _Write:
    """`EmbeddedStore.writing()`: a class, not a generator context manager, because every
    document write of ingest passes through it."""

    __slots__ = ("_own", "_store")

    def __init__(self, store: EmbeddedStore) -> None:
        self._store = store
        self._own = False

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        self._own = not store._db.in_transaction
        if self._own:
            try:
                store._db.execute("BEGIN IMMEDIATE")
            except BaseException as exc:
                store._lock.release()
                _raise_outage(exc)
                raise
        return store._db

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _: object
    ) -> None:
        store = self._store
        try:
            if self._own:
                _end(store._db, exc_type)
            if exc_type is None:
                store._writes += 1
                if store._writes % _PURGE_EVERY_WRITES == 0:
                    store.purge_expired()
        except sqlite3.OperationalError as error:  # a COMMIT on a full disk
            _raise_outage(error)
        finally:
            store._lock.release()
        if exc is not None:
            _raise_outage(exc)


def _end(db: sqlite3.Connection, failed: type[BaseException] | None) -> None:
    """Commit, or roll back what a failure left (SQLite has rolled back by itself after some
    errors, a full disk among them)."""
    if failed is None:
        db.execute("COMMIT")
    elif db.in_transaction:
        db.execute("ROLLBACK")


def _raise_outage(error: BaseException) -> None:
    """SQLite's operational errors (a full disk, a database another process keeps locked past
    the timeout, an I/O error) are the store being unavailable, as a Cosmos outage is: the
    request is a 503 and the batch is retried, not a 500. Other errors are left as they are."""
    if isinstance(error, sqlite3.OperationalError):
        raise Unavailable(f"the embedded store: {error}") from error


class EmbeddedStore:
    """All containers in one SQLite file (WAL mode); safe to share between threads."""

    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(
                private_database(path), check_same_thread=False, isolation_level=None, timeout=10
            )
        except (sqlite3.Error, OSError) as exc:
            raise Unavailable(f"cannot open {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._writes = 0
        # ETags only need to differ from every earlier one of the same document: a random
        # per-open prefix and a counter do that without a system call per write.
        self._etag_prefix = os.urandom(4).hex()
        self._etags = itertools.count()
        # Rows are whole documents of 1-2 KB, in rowid tables: their bodies sit in the table's
        # own b-tree, so an update rewrites one cell, where a WITHOUT ROWID row of that size
        # spilled into overflow pages (~8% more ingest throughput, measured with `make bench`).
        # 8 KiB pages keep such rows on one page. Both take effect on new data directories.
        self._db.execute("PRAGMA page_size=8192")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._containers = {
            name: EmbeddedContainer(self, spec) for name, spec in CONTAINER_SPECS.items()
        }
        with self._lock:
            for container in self._containers.values():
                self._create_table(container)
        self.purge_expired()

    def _create_table(self, container: EmbeddedContainer) -> None:
        table = container._table
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (pk TEXT NOT NULL, id TEXT NOT NULL, "
            "etag TEXT NOT NULL, expires REAL, body BLOB NOT NULL, PRIMARY KEY (pk, id))"
        )
        existing = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
        for name in container.index_fields:
            if f"ix_{name}" not in existing:  # a data dir from before the column: fill it once
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN ix_{name}")
                self._db.execute(f"UPDATE {table} SET ix_{name} = json_extract(body, '$.{name}')")
            self._db.execute(f"DROP INDEX IF EXISTS ix_{table}_{name}")  # the old expression index
            self._db.execute(
                f"CREATE INDEX IF NOT EXISTS ixc_{table}_{name} ON {table} (pk, ix_{name})"
            )

    def next_etag(self) -> str:
        return f"{self._etag_prefix}{next(self._etags):x}"

    def container(self, name: str) -> EmbeddedContainer:
        return self._containers[name]

    def fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchone()
            except sqlite3.OperationalError as error:
                _raise_outage(error)
                raise

    def fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as error:
                _raise_outage(error)
                raise

    def writing(self) -> _Write:
        """One write (or a read-check-write) under the lock, in its own transaction unless
        inside `batch()`."""
        return _Write(self)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes made in the block as one transaction (committed at its end, rolled back on
        an exception): a commit per ingest batch instead of per document. An inner block joins
        the outer one. The lock is held throughout, so other threads wait for the commit."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException as exc:
                    _end(self._db, type(exc))
                    raise
                _end(self._db, None)
            except sqlite3.OperationalError as error:
                _raise_outage(error)
                raise

    def purge_expired(self) -> None:
        with self._lock:
            now = time.time()
            for container in self._containers.values():
                self._db.execute(f"DELETE FROM {container._table} WHERE expires <= ?", (now,))

    def ping(self) -> None:
        self.fetchone("SELECT 1", ())

    def close(self) -> None:
        with self._lock:
            self._db.close()
