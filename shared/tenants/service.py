"""Tenant registry and API keys.

An API key reads `sby.<tenant>.<key id>.<secret>`. Naming the tenant and key id in the key lets
authentication be one point read in the tenant's own partition, with no lookup across tenants;
only a SHA-256 of the secret is stored (the secret has 256 bits of entropy, so a slow password
hash would add latency without adding safety), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.errors import (
    AlreadyExists,
    ChangedMeanwhile,
    InvalidInput,
    LimitReached,
    NotFound,
    Unauthenticated,
)
from shared.store import (
    Conflict,
    Document,
    DocumentStore,
    PreconditionFailed,
    Query,
    until_unchanged,
)
from shared.store.tenancy import TenantContainer, is_tenant_id
from shared.tenants.model import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyPublic,
    Scope,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)

KEY_PREFIX = "sby"
TENANT_SCOPES = frozenset(Scope) - {Scope.ADMIN}
#: Keys one tenant may hold: every one is listed (`GET .../keys`) so a leaked key can be found
#: and revoked; apps and integrations need a handful each.
MAX_KEYS_PER_TENANT = 500
_KEY_PAGE = 200
_UPDATE_ATTEMPTS = 10  # rare writes, but several operators and tools may contend


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the platform admin (tenant None) or a key of one tenant."""

    tenant: str | None
    scopes: frozenset[Scope]
    key_id: str

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TenantService:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        self._tenants = store.container("tenants")

    def _view(self, tenant: str) -> TenantContainer:
        return TenantContainer(self._tenants, tenant)

    def create(self, data: TenantCreate) -> TenantPublic:
        now = _now()
        doc = data.model_dump(by_alias=True) | {
            "created": now.isoformat(),
            "updated": now.isoformat(),
        }
        try:
            self._view(data.id).create(doc)
        except Conflict as exc:
            raise AlreadyExists(f"tenant {data.id!r} exists") from exc
        return TenantPublic.model_validate(doc)

    def get(self, tenant: str) -> TenantPublic:
        doc = self._view(tenant).read(tenant) if is_tenant_id(tenant) else None
        if doc is None:
            raise NotFound(f"no tenant {tenant!r}")
        return TenantPublic.model_validate(doc)

    def update(self, tenant: str, changes: TenantUpdate) -> TenantPublic:
        """Apply `changes` to the tenant as stored now: a change made meanwhile (another
        operator, `smartby onboard`) is kept, not overwritten, and this one applied over it."""
        view = self._view(tenant)
        patch = changes.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)

        def apply() -> Document:
            doc = view.read(tenant)
            if doc is None:
                raise NotFound(f"no tenant {tenant!r}")
            if patch:
                etag = doc.pop("_etag")
                doc.update(patch, updated=_now().isoformat())
                view.replace(doc, etag=etag)
            return doc

        try:
            return TenantPublic.model_validate(until_unchanged(apply, _UPDATE_ATTEMPTS))
        except PreconditionFailed:
            raise ChangedMeanwhile(f"tenant {tenant!r} kept changing; retry") from None

    def list(self, limit: int, continuation: str | None) -> tuple[list[TenantPublic], str | None]:
        page = self._tenants.scan(
            Query(order_by="id"), limit=limit, continuation=continuation
        )
        return [TenantPublic.model_validate(doc) for doc in page.items], page.continuation


class ApiKeyService:
    def __init__(self, store: DocumentStore, admin_key: str | None) -> None:
        self._keys = store.container("apikeys")
        self._admin_key = admin_key

    def _view(self, tenant: str) -> TenantContainer:
        return TenantContainer(self._keys, tenant)

    def issue(self, tenant: str, data: ApiKeyCreate) -> ApiKeyIssued:
        if not TENANT_SCOPES.issuperset(data.scopes):
            allowed = ", ".join(sorted(TENANT_SCOPES))
            raise InvalidInput(f"a tenant key may have the scopes {allowed}")
        if self._view(tenant).count(Query()) >= MAX_KEYS_PER_TENANT:
            raise LimitReached(
                f"{tenant} has {MAX_KEYS_PER_TENANT} API keys, the most a tenant may hold: "
                "revoke keys no longer used first"
            )
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = f"{KEY_PREFIX}.{tenant}.{key_id}.{secret}"
        doc = {
            "id": key_id,
            "name": data.name,
            "scopes": sorted({s.value for s in data.scopes}),
            "hash": _hash(secret),
            "lastFour": key[-4:],
            "created": _now().isoformat(),
        }
        self._view(tenant).create(doc)
        return ApiKeyIssued.model_validate(doc | {"key": key})

    def list(self, tenant: str) -> list[ApiKeyPublic]:
        """Every key of the tenant, oldest first (at most a little over MAX_KEYS_PER_TENANT,
        when keys were issued at the same moment on several hosts)."""
        view, keys, token = self._view(tenant), [], None
        for _ in range(2 * MAX_KEYS_PER_TENANT // _KEY_PAGE):
            page = view.query(Query(order_by="created"), limit=_KEY_PAGE, continuation=token)
            keys += [ApiKeyPublic.model_validate(doc) for doc in page.items]
            token = page.continuation
            if token is None:
                break
        return keys

    def revoke(self, tenant: str, key_id: str) -> None:
        if not self._view(tenant).delete(key_id):
            raise NotFound(f"no key {key_id!r}")

    def authenticate(self, presented: str) -> Principal:
        """The principal a bearer key stands for; Unauthenticated for anything else."""
        if self._admin_key and hmac.compare_digest(presented.encode(), self._admin_key.encode()):
            return Principal(tenant=None, scopes=frozenset({Scope.ADMIN}), key_id="admin")
        parts = presented.split(".", 3)
        if len(parts) != 4 or parts[0] != KEY_PREFIX or not is_tenant_id(parts[1]):
            raise Unauthenticated("not a valid API key")
        _, tenant, key_id, secret = parts
        if not key_id.isalnum() or len(key_id) > 32:
            raise Unauthenticated("not a valid API key")
        doc = self._view(tenant).read(key_id)
        if doc is None or not hmac.compare_digest(doc["hash"], _hash(secret)):
            raise Unauthenticated("not a valid API key")
        return Principal(
            tenant=tenant, scopes=frozenset(Scope(s) for s in doc["scopes"]), key_id=key_id
        )
