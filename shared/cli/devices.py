"""`smartby devices import FILE --tenant T`: register many devices from a CSV file.

Columns (header row required; only `devEui`, `model` and `name` are mandatory):

    devEui,model,name,lat,lon,area,medium,tags,params,appSKey,aesKey

`tags` are separated by `;`, `params` are `key=value` pairs separated by `;` (numbers are read
as numbers, e.g. `pmin=0;pmax=1`). Each row is a `PUT` through the API, so the import is
idempotent and validated exactly as the API validates; a failed row is reported with its line
number and the rest go on. Keys in the file are sent once over TLS and never printed: a report
names the column that is wrong, never the value in it (in a row missing a field, a key can
shift into another column).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from shared.store.tenancy import is_tenant_id

MAX_ROWS = 100_000
REQUIRED = ("devEui", "model", "name")
_DEV_EUI = re.compile(r"^[0-9a-fA-F]{16}$")
COLUMNS = (*REQUIRED, "lat", "lon", "area", "medium", "tags", "params", "appSKey", "aesKey")


class CsvError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    dev_eui: str
    body: dict[str, Any]


def _number(text: str) -> float | int | str:
    """A number if the text is one (finite: JSON has no NaN or infinity), else the text."""
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if math.isfinite(value) else text
    return text


def _coordinate(record: dict[str, str], column: str) -> float:
    value = _number(record.get(column) or "")
    if isinstance(value, str):
        raise CsvError(f"{column} must be a number (decimal degrees)")
    return float(value)


def _row_body(record: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": record["model"], "name": record["name"]}
    if record.get("lat") or record.get("lon"):
        body["location"] = {"lat": _coordinate(record, "lat"), "lon": _coordinate(record, "lon")}
    for column in ("area", "medium", "appSKey", "aesKey"):
        if record.get(column):
            body[column] = record[column]
    if record.get("tags"):
        body["tags"] = [t.strip() for t in record["tags"].split(";") if t.strip()]
    if record.get("params"):
        params = {}
        for pair in record["params"].split(";"):
            key, sep, value = pair.partition("=")
            if not sep:
                raise CsvError("params must be key=value pairs separated by ;")
            params[key.strip()] = _number(value.strip())
        body["params"] = params
    return body


def read_rows(text: str) -> Iterator[Row | CsvError]:
    """Rows to import, or the error of a row that cannot be read (with its line number)."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvError(f"the header lacks {', '.join(missing)}")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise CsvError(f"unknown columns {', '.join(unknown)}; known: {', '.join(COLUMNS)}")
    records = enumerate(reader, start=1)
    while True:
        try:
            count, record = next(records)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            raise CsvError(f"not readable as CSV after line {reader.line_num} ({exc})") from None
        if count > MAX_ROWS:
            raise CsvError(f"more than {MAX_ROWS} rows: split the file")
        line = reader.line_num
        try:
            if not all(record.get(c) for c in REQUIRED):
                raise CsvError("devEui, model and name are required")
            dev_eui = record["devEui"].strip()
            if not _DEV_EUI.fullmatch(dev_eui):
                raise CsvError("devEui must be 16 hex digits")
            yield Row(line, dev_eui, _row_body(record))
        except CsvError as exc:
            yield CsvError(f"line {line}: {exc}")


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    errors = body.get("errors") or []
    where = "; ".join(".".join(e["loc"][1:]) + ": " + e["msg"] for e in errors[:3])
    return f"{body.get('detail', response.status_code)}{' (' + where + ')' if where else ''}"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    failed: list[str] = field(default_factory=list)


def import_devices(
    client: httpx.Client, tenant: str, rows: Iterator[Row | CsvError], advance: Any = None
) -> ImportReport:
    report = ImportReport()
    for row in rows:
        if isinstance(row, CsvError):
            report.failed.append(str(row))
        else:
            try:
                response = client.put(f"/api/tenants/{tenant}/devices/{row.dev_eui}",
                                      json=row.body)
            except httpx.HTTPError as exc:
                report.failed.append(f"line {row.line}: {type(exc).__name__}")
            else:
                if response.status_code == 201:
                    report.created += 1
                elif response.status_code == 200:
                    report.updated += 1
                else:
                    report.failed.append(f"line {row.line} ({row.dev_eui}): {_problem(response)}")
        if advance:
            advance()
    return report


def register(app: typer.Typer) -> None:
    devices = typer.Typer(help="Manage a tenant's devices.", no_args_is_help=True)
    app.add_typer(devices, name="devices")

    @devices.command("import")
    def import_command(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
        tenant: Annotated[str, typer.Option(help="The tenant (kommune) id.")],
        api_url: Annotated[
            str, typer.Option(envvar="SMARTBY_API_URL", help="The platform's base URL.")
        ] = "http://127.0.0.1:7071",
        key: Annotated[
            str | None,
            typer.Option(envvar="SMARTBY_ADMIN_KEY",
                         help="A tenant-admin key of the tenant, or the admin key."),
        ] = None,
    ) -> None:
        """Import devices from a CSV file (idempotent: existing devices are updated)."""
        console = Console(highlight=False)
        if not key:
            console.print("a key is needed: --key or SMARTBY_ADMIN_KEY")
            raise typer.Exit(2)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            console.print("✗ the file is not UTF-8 text: save it as CSV UTF-8")
            raise typer.Exit(2) from None
        if not is_tenant_id(tenant):
            console.print(f"✗ not a tenant id: {tenant!r}")
            raise typer.Exit(2)
        try:
            total = sum(1 for _ in read_rows(text))
            rows = read_rows(text)
            with httpx.Client(base_url=api_url, timeout=10,
                              headers={"Authorization": f"Bearer {key}"}) as client, Progress(
                TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("devices", total=total)
                report = import_devices(client, tenant, rows, lambda: progress.advance(task))
        except CsvError as exc:
            console.print(f"✗ {exc}")
            raise typer.Exit(2) from exc
        console.print(f"✓ {report.created} created, {report.updated} updated")
        for failure in report.failed:
            console.print(f"✗ {failure}")
        if report.failed:
            raise typer.Exit(1)
