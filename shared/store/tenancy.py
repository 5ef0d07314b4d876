"""Tenant isolation by construction: a view of a container bound to one tenant.

Repositories receive a `TenantContainer`, never a raw `Container`. Every partition key it uses is
derived from its own tenant id (the tenant itself, or `"<tenant>|<suffix>"` for containers
partitioned more finely), and every document it writes is stamped with `tenant`. There is no
method that takes a tenant argument, so code holding tenant A's view cannot reach tenant B.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.store import Container, Document, Page, Query, Write

#: A tenant id is a slug: a lowercase letter, then letters, digits and single inner hyphens,
#: 2-14 characters. 14 because each municipality's Key Vault is `kv-<tenant>-<6-char token>`
#: and vault names are at most 24 characters (infra/modules/naming.bicep).
TENANT_ID_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
TENANT_ID_MAX = 14
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


def is_tenant_id(value: str) -> bool:
    return 2 <= len(value) <= TENANT_ID_MAX and _TENANT_ID.fullmatch(value) is not None
PARTITION_SEPARATOR = "|"


class TenantContainer:
    def __init__(self, container: Container, tenant: str) -> None:
        if not is_tenant_id(tenant):
            raise ValueError(f"not a tenant id: {tenant!r}")
        self._container = container
        self.tenant = tenant
        self._field = container.spec.partition_key

    def partition(self, *suffix: str) -> str:
        """The partition key for this tenant, refined by `suffix` where the container is."""
        if self._field == "tenant":
            if suffix:
                raise ValueError(f"{self._container.spec.name} is partitioned by tenant only")
            return self.tenant
        if not suffix:
            raise ValueError(f"{self._container.spec.name} needs a partition suffix")
        return PARTITION_SEPARATOR.join((self.tenant, *suffix))

    def _stamp(self, doc: Document, suffix: Sequence[str]) -> Document:
        doc["tenant"] = self.tenant
        if self._field != "tenant":
            doc[self._field] = self.partition(*suffix)
        return doc

    def read(self, id: str, *suffix: str) -> Document | None:
        return self._container.read(self.partition(*suffix), id)

    def read_many(self, ids: Sequence[str], *suffix: str) -> list[Document]:
        return self._container.read_many(self.partition(*suffix), ids)

    def etags(self, ids: Sequence[str], *suffix: str) -> dict[str, str]:
        return self._container.etags(self.partition(*suffix), ids)

    def create(self, doc: Document, *suffix: str) -> Document:
        return self._container.create(self._stamp(doc, suffix))

    def upsert(self, doc: Document, *suffix: str) -> Document:
        return self._container.upsert(self._stamp(doc, suffix))

    def replace(self, doc: Document, *suffix: str, etag: str | None = None) -> Document:
        return self._container.replace(self._stamp(doc, suffix), etag=etag)

    def write_all(self, writes: Sequence[Write], *suffix: str) -> list[Document | None]:
        for write in writes:
            self._stamp(write.doc, suffix)
        return self._container.write_all(self.partition(*suffix), writes)

    def delete(self, id: str, *suffix: str, etag: str | None = None) -> bool:
        return self._container.delete(self.partition(*suffix), id, etag=etag)

    def query(
        self,
        query: Query,
        *suffix: str,
        limit: int = 100,
        continuation: str | None = None,
    ) -> Page:
        return self._container.query(
            self.partition(*suffix), query, limit=limit, continuation=continuation
        )

    def count(self, query: Query, *suffix: str) -> int:
        return self._container.count(self.partition(*suffix), query)
