"""Tenants (kommuner) and their API keys, as the API shows them."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.store.tenancy import TENANT_ID_MAX, TENANT_ID_PATTERN

#: Reserved for records that belong to no tenant (e.g. IoT Hub messages without a tenant tag).
PLATFORM_PARTITION = "platform"


def _not_reserved(tenant: str) -> str:
    if tenant == PLATFORM_PARTITION:
        raise ValueError(f"{PLATFORM_PARTITION!r} is reserved")
    return tenant


TenantId = Annotated[
    str,
    Field(
        pattern=TENANT_ID_PATTERN,
        min_length=2,
        max_length=TENANT_ID_MAX,
        description="Slug of the municipality, e.g. `sandefjord` (at most 14 characters).",
        examples=["sandefjord"],
    ),
    AfterValidator(_not_reserved),
]


def _known_timezone(name: str) -> str:
    if name not in available_timezones():
        raise ValueError(f"unknown time zone {name!r}")
    ZoneInfo(name)
    return name


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_known_timezone)]
Kommunenummer = Annotated[
    str, Field(pattern=r"^[0-9]{4}$", description="Four-digit kommunenummer.", examples=["3907"])
]
Locale = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$", examples=["nb-NO"])]
#: Characters a console or log that shows a name back would obey, or that hide what a name
#: says: C0 and C1 controls (ESC sequences, NUL, line breaks), zero-width characters, line and
#: paragraph separators, bidirectional embeddings, overrides and isolates, the BOM.
_HIDDEN = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
#: Text people give (names, tags): one line of visible text, not blank. The pattern is what the
#: OpenAPI document can say; `visible` checks the rest of Unicode.
PRINTABLE = rf"^[^{_HIDDEN}]*[^\s{_HIDDEN}][^{_HIDDEN}]*$"
#: Format and separator characters (bidi marks, soft hyphen, tags, ...), and controls.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern).
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible(text: str) -> str:
    """`text` if it is one line of visible text: no control or format characters, and at least
    one that is neither a space, a combining mark nor a blank filler."""
    categories = [unicodedata.category(c) for c in text]
    if _INVISIBLE_CATEGORIES.intersection(categories):
        raise ValueError("must not contain control or format characters")
    if all(cat[0] in "ZM" or c in _BLANK for c, cat in zip(text, categories, strict=True)):
        raise ValueError("must contain visible characters")
    return text


Text = Annotated[str, AfterValidator(visible)]
Name = Annotated[Text, Field(min_length=1, max_length=100, pattern=PRINTABLE)]
RetentionDays = Annotated[
    int, Field(ge=1, le=3650, description="How long time series are kept, in days.")
]


class Strict(BaseModel):
    """Request bodies: unknown fields and type coercion are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True)


class TenantCreate(Strict):
    id: TenantId
    name: Name
    kommunenummer: Kommunenummer
    locale: Locale = "nb-NO"
    timezone: TimeZone = "Europe/Oslo"
    retention_days: RetentionDays = Field(400, alias="retentionDays")

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TenantUpdate(Strict):
    name: Name | None = None
    kommunenummer: Kommunenummer | None = None
    locale: Locale | None = None
    timezone: TimeZone | None = None
    retention_days: RetentionDays | None = Field(None, alias="retentionDays")

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TenantPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: str
    name: str
    kommunenummer: str
    locale: str
    timezone: str
    retention_days: int = Field(alias="retentionDays")
    created: datetime
    updated: datetime


class Scope(StrEnum):
    """What a key may do. `admin` is the platform's own key (from settings), never issued."""

    ADMIN = "admin"
    TENANT_ADMIN = "tenant-admin"
    INGEST = "ingest"
    APP = "app"
    READ = "read"


class ApiKeyCreate(Strict):
    name: Name
    # A Literal of the scopes a tenant key may have (not `admin`), which JSON strings match.
    scopes: list[Literal[Scope.TENANT_ADMIN, Scope.INGEST, Scope.APP, Scope.READ]] = Field(
        min_length=1, max_length=4
    )


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    scopes: list[Scope]
    created: datetime
    last_four: str = Field(alias="lastFour", description="The key's last four characters.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ApiKeyIssued(ApiKeyPublic):
    key: str = Field(description="The key itself. Shown this once; only its hash is stored.")
