"""`smartby onboard`: add a municipality (tenant) to a region, idempotently.

Two effects, each safe to repeat:

1. The tenant's deployment parameters, `infra/tenants/<tenant>.bicepparam`, for
   `infra/tenant.bicep` (the tenant's own Key Vault for device keys and its budget alert); an
   infra directory without `tenant.bicep` (the command run outside the repository) is refused.
   Running the command again with the same options leaves the file untouched; a file whose
   values were edited by hand is never overwritten silently: the command stops and lists the
   differences unless `--force` is given.
2. With an API URL and the admin key, the tenant itself in the platform API: `POST /api/tenants`;
   on 409 Conflict it already exists, so it is read back and only the fields that differ are
   PATCHed.

The pure parts (validation, rendering and reading the parameter file, diffing tenant fields and the
API calls behind a small function taking an `httpx.Client`) are plain functions, tested without a
terminal or a network; `register` adds the Typer command that wires them to the console.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from shared.cli.api import TENANT_ID_RULE, parse_key, refuse, require_key, unreachable
from shared.store.tenancy import is_tenant_id
from shared.tenants.model import PLATFORM_PARTITION

KOMMUNENUMMER = re.compile(r"^[0-9]{4}$")
LOCALE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
EMAIL = re.compile(r"^[^@\s']+@[^@\s']+\.[^@\s']+$")
_MONTH = r"[0-9]{4}-(?:0[1-9]|1[0-2])"
MONTH = re.compile(f"^{_MONTH}$")
#: How tenant.bicep takes a budget's first month.
_BUDGET_START = re.compile(f"^({_MONTH})-01T00:00:00Z$")
API_TIMEOUT_S = 10.0
#: Tenant fields the API accepts on create and PATCH, in the order they are shown.
TENANT_FIELDS = ("name", "kommunenummer", "locale", "timezone")


class OnboardError(Exception):
    """A problem the operator can fix; the message says how."""


@dataclass(frozen=True)
class TenantSpec:
    """What `smartby onboard` knows about one municipality."""

    id: str
    name: str
    kommunenummer: str
    locale: str = "nb-NO"
    timezone: str = "Europe/Oslo"
    budget: int | None = None
    contact_emails: tuple[str, ...] = ()
    #: The budget's first month (YYYY-MM). Azure refuses to change a budget's start date, so it
    #: is fixed when the budget is created; `write_bicepparam` keeps the file's, or takes the
    #: current month for a new budget.
    budget_start: str | None = None

    def api_body(self) -> dict[str, str]:
        """The `POST /api/tenants` body."""
        return {"id": self.id, **{name: getattr(self, name) for name in TENANT_FIELDS}}


def validate(spec: TenantSpec) -> None:
    """Raise `OnboardError` listing every problem with the options at once."""
    problems: list[str] = []
    if not is_tenant_id(spec.id):
        problems.append(
            f"--tenant {spec.id!r} must be {TENANT_ID_RULE}; the tenant's Key Vault name "
            "(kv-<tenant>-<token>, 24 characters) allows no more"
        )
    elif spec.id == PLATFORM_PARTITION:
        problems.append(f"--tenant {spec.id!r} is reserved for the platform's own records")
    if not 1 <= len(spec.name.strip()) <= 100 or spec.name != spec.name.strip():
        problems.append("--name must be 1-100 characters without leading or trailing spaces")
    elif not spec.name.isprintable():  # a line break would end the Bicep string and comment
        problems.append("--name must be one line of printable characters")
    if not KOMMUNENUMMER.fullmatch(spec.kommunenummer):
        problems.append(f"--kommunenummer {spec.kommunenummer!r} must be four digits, e.g. 3907")
    if not LOCALE.fullmatch(spec.locale):
        problems.append(f"--locale {spec.locale!r} must look like nb-NO or nb")
    if spec.timezone not in available_timezones():
        problems.append(f"--timezone {spec.timezone!r} is not an IANA time zone (Europe/Oslo)")
    if spec.budget is not None:
        if spec.budget < 1:
            problems.append(
                "--budget must be a positive whole number per month, in the billing account's "
                "currency"
            )
        if not spec.contact_emails:
            problems.append("--budget needs at least one --contact-email to send the alerts to")
    if spec.budget_start is not None:
        if not MONTH.fullmatch(spec.budget_start):
            problems.append(f"--budget-start {spec.budget_start!r} must be a month, e.g. 2026-11")
        if spec.budget is None:
            problems.append("--budget-start needs --budget")
    problems.extend(
        f"--contact-email {email!r} is not an e-mail address"
        for email in spec.contact_emails
        if not EMAIL.fullmatch(email)
    )
    if len(set(spec.contact_emails)) != len(spec.contact_emails):
        problems.append("--contact-email lists an address twice")
    if problems:
        raise OnboardError("invalid options:\n  - " + "\n  - ".join(problems))


# --- the parameter file ------------------------------------------------------------------------


def bicepparam_path(infra_dir: Path, tenant: str) -> Path:
    return infra_dir / "tenants" / f"{tenant}.bicepparam"


def require_tenant_template(infra_dir: Path) -> None:
    """Refuse an infra directory without tenant.bicep, which the file's `using` names: run
    elsewhere than in the repository, the command would write a file that cannot deploy."""
    template = infra_dir / "tenant.bicep"
    if not template.is_file():
        refuse(
            f"{template} does not exist: run smartby onboard in the repository's root, "
            "or pass --infra-dir with the repository's infra directory"
        )


def bicepparam_values(spec: TenantSpec) -> dict[str, Any]:
    """The parameters of infra/tenant.bicep that onboarding manages, in file order."""
    values: dict[str, Any] = {
        "tenantId": spec.id,
        "tenantName": spec.name,
        "kommunenummer": spec.kommunenummer,
        "locale": spec.locale,
        "timezone": spec.timezone,
        "budgetAmount": spec.budget or 0,
        "contactEmails": list(spec.contact_emails),
    }
    if spec.budget:
        if spec.budget_start is None:
            raise ValueError("a budget needs its first month: see with_budget_start")
        values["budgetStartDate"] = f"{spec.budget_start}-01T00:00:00Z"
    return values


def with_budget_start(
    spec: TenantSpec, current: Mapping[str, str], now: datetime | None = None
) -> TenantSpec:
    """`spec` with its budget's first month: the option's; else the one in the current file
    (`current`: its raw parameters) if that file already has a budget, which Azure keeps
    with the start date it was created with; else this month, as the budget is new."""
    if not spec.budget or spec.budget_start is not None:
        return spec
    try:
        had_budget = parse_literal(current.get("budgetAmount", "0")) not in (0, None)
        start = _BUDGET_START.match(parse_literal(current.get("budgetStartDate", "''")))
    except (TypeError, ValueError):
        had_budget, start = False, None
    if had_budget and start:
        return replace(spec, budget_start=start.group(1))
    if had_budget:  # written before start dates were kept: only Azure knows the budget's
        raise OnboardError(
            "the parameter file has a budget but not the month it started, which Azure keeps "
            "and refuses to change: pass --budget-start YYYY-MM, the month of the tenant's "
            "first deployment with a budget (Azure portal: Cost Management, Budgets, "
            f"budget-smartby-{spec.id}, its start date)"
        )
    return replace(spec, budget_start=f"{now or datetime.now(UTC):%Y-%m}")


def _bicep_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${")
    return f"'{escaped}'"


def _bicep_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _bicep_string(value)
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + "".join(f"  {_bicep_literal(item)}\n" for item in value) + "]"
    raise TypeError(f"no Bicep literal for {type(value).__name__}")


def render_bicepparam(spec: TenantSpec, extra: Mapping[str, str] | None = None) -> str:
    """The file's full text. `extra` are hand-added parameters (name -> raw Bicep value) kept."""
    lines = [
        f"// Smartby tenant {spec.id}: {spec.name} (kommunenummer {spec.kommunenummer}).",
        "// Written by `smartby onboard`; running it again with the same options changes nothing.",
        "// Deploy into the region's resource group:",
        "//   az deployment group create --resource-group <region resource group> \\",
        f"//     --parameters infra/tenants/{spec.id}.bicepparam",
        "using '../tenant.bicep'",
        "",
    ]
    for name, value in bicepparam_values(spec).items():
        lines.append(f"param {name} = {_bicep_literal(value)}")
    for name, raw in (extra or {}).items():
        lines.append(f"param {name} = {raw}")
    return "\n".join(lines) + "\n"


_PARAM_LINE = re.compile(r"^param\s+([A-Za-z_]\w*)\s*=\s*(.*)$")


def _unquoted(text: str) -> Iterator[tuple[int, str]]:
    """(index, character) of every character outside a Bicep '...' string (escapes honoured)."""
    quoted, i = False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        elif not quoted:
            yield i, ch
        i += 1


def _strip_comment(line: str) -> str:
    """Drop a trailing `//` comment that is outside a quoted string."""
    for i, _ in _unquoted(line):
        if line.startswith("//", i):
            return line[:i].rstrip()
    return line.rstrip()


def _depth(text: str) -> int:
    """How many brackets are open at the end of `text` (outside strings)."""
    depth = 0
    for _, ch in _unquoted(text):
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
    return depth


def read_bicepparam(text: str) -> dict[str, str]:
    """Every `param name = value` of a .bicepparam file: name -> raw value text (comments cut)."""
    params: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _PARAM_LINE.match(lines[i].strip())
        i += 1
        if not match:
            continue
        name, raw = match.group(1), _strip_comment(match.group(2))
        while _depth(raw) > 0 and i < len(lines):
            raw += "\n" + _strip_comment(lines[i])
            i += 1
        params[name] = raw.strip()
    return params


_STRING = re.compile(r"^'((?:[^'\\]|\\.)*)'$", re.DOTALL)


def parse_literal(raw: str) -> Any:
    """A Bicep literal (string, int, bool, array of those) as Python; ValueError otherwise."""
    raw = raw.strip()
    if match := _STRING.match(raw):
        return re.sub(r"\\(.)", r"\1", match.group(1))
    if re.fullmatch(r"-?[0-9]+", raw):
        return int(raw)
    if raw in ("true", "false"):
        return raw == "true"
    if raw.startswith("[") and raw.endswith("]"):
        body = raw[1:-1]
        items = re.findall(r"'(?:[^'\\]|\\.)*'|-?[0-9]+|true|false", body)
        leftover = re.sub(r"'(?:[^'\\]|\\.)*'|-?[0-9]+|true|false|[\s,]", "", body)
        if leftover:
            raise ValueError(f"not a literal array: {raw!r}")
        return [parse_literal(item) for item in items]
    raise ValueError(f"not a literal: {raw!r}")


@dataclass(frozen=True)
class Difference:
    param: str
    current: Any
    wanted: Any


def diff_bicepparam(text: str, spec: TenantSpec) -> list[Difference]:
    """How an existing file's managed values differ from the options (empty: same values)."""
    current = read_bicepparam(text)
    differences = []
    for name, wanted in bicepparam_values(spec).items():
        raw = current.get(name)
        if raw is None:
            value: Any = "(missing)"
        else:
            try:
                value = parse_literal(raw)
            except ValueError:
                value = raw
        if value != wanted:
            differences.append(Difference(name, value, wanted))
    return differences


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    status: Literal["created", "unchanged", "kept", "updated"]
    differences: tuple[Difference, ...] = ()


class FileConflict(OnboardError):
    """The file exists with other values, and `--force` was not given."""

    def __init__(self, path: Path, differences: list[Difference]) -> None:
        self.path = path
        self.differences = tuple(differences)
        listed = "\n".join(
            f"  - {d.param}: {d.current!r} in the file, {d.wanted!r} from the options"
            for d in differences
        )
        super().__init__(
            f"{path} already exists with other values (edited by hand?):\n{listed}\n"
            "Pass the file's values as options, or --force to overwrite them."
        )


def write_bicepparam(
    path: Path, spec: TenantSpec, *, force: bool = False, now: datetime | None = None
) -> FileOutcome:
    """Create or confirm the tenant's parameter file; never rewrite an identical one."""
    if not path.exists():
        spec = with_budget_start(spec, {}, now)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_bicepparam(spec), encoding="utf-8")
        return FileOutcome(path, "created")
    text = path.read_text(encoding="utf-8")
    current = read_bicepparam(text)
    spec = with_budget_start(spec, current, now)
    managed = bicepparam_values(spec)
    # A budget's start date goes with the budget: a budget set up again starts anew.
    unmanaged = {*managed, "budgetStartDate"}
    extra = {name: raw for name, raw in current.items() if name not in unmanaged}
    if text == render_bicepparam(spec, extra):
        return FileOutcome(path, "unchanged")
    differences = diff_bicepparam(text, spec)
    if not differences:
        # Same values, different layout or comments: the hand-written file stays as it is.
        return FileOutcome(path, "kept")
    if not force:
        raise FileConflict(path, differences)
    # Parameters onboarding does not manage (e.g. cosmosDedicatedMaxThroughput) are carried over.
    path.write_text(render_bicepparam(spec, extra), encoding="utf-8")
    return FileOutcome(path, "updated", tuple(differences))


# --- the platform API --------------------------------------------------------------------------


class ApiProblem(OnboardError):
    """An error answer of the API, from its problem+json body (RFC 9457) where there is one."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        self.status = status
        self.title = title
        self.detail = detail
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))


def problem_from_response(response: httpx.Response) -> ApiProblem:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        detail = str(body.get("detail") or "")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += "".join(f"\n  - {_describe_error(e)}" for e in errors[:10])
        return ApiProblem(int(body.get("status") or status), str(body.get("title") or ""), detail)
    text = response.text.strip()
    return ApiProblem(status, response.reason_phrase or "Error", text[:300])


def _describe_error(error: object) -> str:
    if isinstance(error, dict):
        where = error.get("loc") or error.get("field") or error.get("pointer")
        if isinstance(where, list):
            where = ".".join(str(part) for part in where)
        message = error.get("msg") or error.get("message") or error.get("detail") or error
        return f"{where}: {message}" if where else str(message)
    return str(error)


def diff_tenant(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body: those of name, kommunenummer, locale and timezone that differ."""
    return {
        name: wanted[name]
        for name in TENANT_FIELDS
        if name in wanted and current.get(name) != wanted[name]
    }


@dataclass(frozen=True)
class ApiOutcome:
    status: Literal["created", "unchanged", "updated"]
    changed: dict[str, Any] = field(default_factory=dict)


def ensure_tenant(client: httpx.Client, spec: TenantSpec) -> ApiOutcome:
    """Create the tenant, or bring an existing one in line with `spec`; raises `ApiProblem`."""
    body = spec.api_body()
    created = client.post("/api/tenants", json=body)
    if created.is_success:
        return ApiOutcome("created")
    if created.status_code != httpx.codes.CONFLICT:
        raise problem_from_response(created)
    existing = client.get(f"/api/tenants/{spec.id}")
    if not existing.is_success:
        raise problem_from_response(existing)
    try:
        current = existing.json()
    except ValueError:
        raise ApiProblem(existing.status_code, "Not a tenant", "the answer is not JSON") from None
    if not isinstance(current, dict):
        raise ApiProblem(existing.status_code, "Not a tenant", "the answer is not a JSON object")
    changes = diff_tenant(current, body)
    if not changes:
        return ApiOutcome("unchanged")
    patched = client.patch(f"/api/tenants/{spec.id}", json=changes)
    if not patched.is_success:
        raise problem_from_response(patched)
    return ApiOutcome("updated", changes)


class AdminKey:
    """The admin key, kept out of reprs, tracebacks and logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)  # a key of only whitespace is no key

    def __repr__(self) -> str:
        return "AdminKey('***')"

    __str__ = __repr__


def api_client(
    api_url: str, admin_key: AdminKey, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An API client with the admin key as bearer token and a 10 s timeout."""
    return httpx.Client(
        base_url=api_url.rstrip("/"),
        headers={
            "Authorization": f"Bearer {admin_key.reveal()}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": "smartby-onboard",
        },
        timeout=API_TIMEOUT_S,
        transport=transport,
    )


# --- the command -------------------------------------------------------------------------------

_OK = "[green]✓[/green]"
_SKIP = "[dim]-[/dim]"
_FAIL = "[red]✗[/red]"


def register(app: typer.Typer, *, transport: httpx.BaseTransport | None = None) -> None:
    """Add `smartby onboard` to `app` (`transport` lets tests stand in for the API)."""

    @app.command("onboard")
    def onboard(
        tenant: Annotated[
            str, typer.Option("--tenant", help="Tenant id: the municipality slug, e.g. sandefjord.")
        ],
        name: Annotated[
            str, typer.Option("--name", help="Display name, e.g. 'Sandefjord kommune'.")
        ],
        kommunenummer: Annotated[
            str, typer.Option("--kommunenummer", help="Four-digit kommunenummer, e.g. 3907.")
        ],
        locale: Annotated[str, typer.Option("--locale", help="Language (BCP 47).")] = "nb-NO",
        timezone: Annotated[
            str, typer.Option("--timezone", help="IANA time zone.")
        ] = "Europe/Oslo",
        budget: Annotated[
            int | None,
            typer.Option(
                "--budget",
                help="Monthly budget alert in the billing account's currency (NOK for a "
                "Norwegian billing account; needs --contact-email).",
            ),
        ] = None,
        contact_email: Annotated[
            list[str] | None,
            typer.Option("--contact-email", help="Budget alert recipient; repeat for more."),
        ] = None,
        budget_start: Annotated[
            str | None,
            typer.Option(
                "--budget-start",
                metavar="YYYY-MM",
                help="The budget's first month; by default the parameter file's, else this month.",
            ),
        ] = None,
        infra_dir: Annotated[
            Path, typer.Option("--infra-dir", help="The repository's infra directory.")
        ] = Path("infra"),
        api_url: Annotated[
            str | None,
            typer.Option(
                "--api-url",
                envvar="SMARTBY_API_URL",
                help="Platform API base URL (without /api); skip the API step when unset.",
            ),
        ] = None,
        admin_key: Annotated[
            AdminKey | None,
            typer.Option(
                "--admin-key",
                envvar="SMARTBY_ADMIN_KEY",
                parser=lambda value: AdminKey(parse_key(value)),
                metavar="KEY",
                show_default=False,
                help="Platform admin key (prefer the environment variable).",
            ),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Overwrite a parameter file with other values.")
        ] = False,
    ) -> None:
        """Onboard a municipality: write its .bicepparam and create it in the API (idempotent)."""
        console = Console(highlight=False, soft_wrap=True)
        errors = Console(stderr=True, highlight=False, soft_wrap=True)
        spec = TenantSpec(
            id=tenant,
            name=name,
            kommunenummer=kommunenummer,
            locale=locale,
            timezone=timezone,
            budget=budget,
            contact_emails=tuple(contact_email or ()),
            budget_start=budget_start,
        )
        try:
            validate(spec)
        except OnboardError as exc:
            errors.print(f"{_FAIL} {escape(str(exc))}")
            raise typer.Exit(2) from None
        if api_url:
            require_key(admin_key, "--admin-key", api_url)
        require_tenant_template(infra_dir)
        console.print(f"{_OK} Tenant {spec.id}: {escape(spec.name)} ({spec.kommunenummer})")

        try:
            outcome = write_bicepparam(bicepparam_path(infra_dir, spec.id), spec, force=force)
        except OnboardError as exc:
            errors.print(f"{_FAIL} {escape(str(exc))}")
            raise typer.Exit(1) from None
        except OSError as exc:
            errors.print(f"{_FAIL} Cannot write the parameter file: {escape(str(exc))}")
            raise typer.Exit(1) from None
        shown = escape(str(outcome.path))
        console.print(
            {
                "created": f"{_OK} Wrote {shown}",
                "unchanged": f"{_OK} {shown} is up to date",
                "kept": f"{_OK} {shown} has the same values (hand-formatted; left as it is)",
                "updated": f"{_OK} Overwrote {shown} (--force): "
                + ", ".join(d.param for d in outcome.differences),
            }[outcome.status]
        )

        if not api_url or admin_key is None:  # (a URL without a key stopped above)
            console.print(f"{_SKIP} API step skipped: no --api-url or SMARTBY_API_URL")
        else:
            try:
                with (
                    api_client(api_url, admin_key, transport) as client,
                    console.status(f"Creating tenant {spec.id} in {escape(api_url)}"),
                ):
                    result = ensure_tenant(client, spec)
            except ApiProblem as exc:
                errors.print(f"{_FAIL} The API answered {escape(str(exc))}")
                raise typer.Exit(1) from None
            except httpx.HTTPError as exc:
                errors.print(f"{_FAIL} {escape(unreachable(api_url, exc))}")
                raise typer.Exit(1) from None
            console.print(
                {
                    "created": f"{_OK} Created tenant {spec.id} in the API",
                    "unchanged": f"{_OK} Tenant {spec.id} already exists with these settings",
                    "updated": f"{_OK} Updated tenant {spec.id} in the API: "
                    + ", ".join(result.changed),
                }[result.status]
            )

        console.print("Next: deploy the tenant into the region's resource group:")
        console.print(
            "  az deployment group create --resource-group <region resource group> "
            f"--parameters {escape(str(bicepparam_path(infra_dir, spec.id)))}",
            soft_wrap=True,
        )
