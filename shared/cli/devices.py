"""`smartby devices import FILE --tenant T`: register many devices from a CSV file.

Columns (header row required; only `devEui`, `model` and `name` are mandatory):

    devEui,model,name,lat,lon,area,medium,tags,params,appSKey,aesKey

The header names each column once (spaces around a name are ignored), and fields are separated
by commas: a file separated by `;` (as Excel saves CSV with Norwegian settings) or by tabs is
refused as such. `tags` are separated by `;`, `params` are `key=value` pairs separated by `;`:
numbers are read as numbers (`pmin=0;pmax=1`), and a value with `|` is a list of texts
(`wired_inputs=analog_voltage|door_open`; a list of one: `wired_inputs=analog_voltage|`).
A devEui on two lines (in any case) refuses the file before any request is sent.

A file is at most 50 MB and 100,000 rows (blank lines count), and is read as it streams. One
request first checks that the API answers and takes the key for the tenant. Then each row is a
`PUT` through the API, so the import is idempotent and validated exactly as the API validates; a
failed row is reported with its line number and the rest go on, until three rows in a row get
no answer at all, which stops the import. Keys in the file are sent once over TLS and never
printed: a report names the column that is wrong, never the value in it. A row with fewer
fields than the header is refused: its values (a key among them) would shift into other columns.
A regular file is read through once first (to count its rows, and to refuse a repeated devEui or
another error that stops the reading); a pipe (`/dev/stdin`) is read once, so there the import
stops at such an error, after the rows before it.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from shared.cli.api import parse_key, refuse, require_key, require_tenant_id, unreachable

MAX_ROWS = 100_000
MAX_FILE_BYTES = 50 * 2**20
API_TIMEOUT_S = 10.0
#: Rows in a row that got no answer before the import stops: the API is down or hung, and every
#: further row would wait out its timeout too.
MAX_UNANSWERED = 3
REQUIRED = ("devEui", "model", "name")
_DEV_EUI = re.compile(r"^[0-9a-fA-F]{16}$")
COLUMNS = (*REQUIRED, "lat", "lon", "area", "medium", "tags", "params", "appSKey", "aesKey")


class CsvError(ValueError):
    pass


class ApiRefused(Exception):
    """The API cannot take the import at all: it does not answer, or refuses the key or tenant."""


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


def _param(text: str) -> Any:
    """A list of texts if the value has `|`, else as `_number` reads it."""
    if "|" in text:
        return [item.strip() for item in text.split("|") if item.strip()]
    return _number(text)


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
            params[key.strip()] = _param(value.strip())
        body["params"] = params
    return body


def read_rows(lines: Iterable[str]) -> Iterator[Row | CsvError]:
    """Rows to import, or the error of a row that cannot be read (with its line number).

    `lines` is read once, as it streams (a file opened with `newline=""`). The row limit counts
    physical lines, blank ones too, which the reader skips without yielding. A devEui that is on
    an earlier line too (in any case) stops the reading: which of the rows was meant is unclear,
    and the key store would keep the first row's key.
    """
    reader = csv.DictReader(lines)
    _read_header(reader)
    first_lines: dict[str, int] = {}  # devEui in lower case -> the line it is first on
    for line, record in _records(reader):
        try:
            dev_eui = _dev_eui(record)
        except CsvError as exc:
            yield CsvError(f"line {line}: {exc}")
            continue
        first = first_lines.setdefault(dev_eui.lower(), line)
        if first != line:
            raise CsvError(f"line {line}: devEui {dev_eui} is also on line {first}")
        try:
            yield Row(line, dev_eui, _row_body(record))
        except CsvError as exc:
            yield CsvError(f"line {line}: {exc}")


_SEPARATORS = {";": "';'", "\t": "tabs"}


def _read_header(reader: csv.DictReader[str]) -> None:
    """Check the header and take its names without surrounding spaces; CsvError if it is wrong.

    A header read as one column that holds a `;` or a tab is a file separated by those, as Excel
    saves "CSV" with Norwegian settings; it is refused rather than guessed at, because `tags` and
    `params` use `;` inside a field and Norwegian numbers use a decimal comma.
    """
    raw = reader.fieldnames or []
    if len(raw) == 1:
        for separator, name in _SEPARATORS.items():
            if separator in raw[0]:
                raise CsvError(
                    f"the file is separated by {name}, not by commas (as Excel saves CSV with "
                    "Norwegian settings): save it comma-separated"
                )
    header = [name.strip() for name in raw]
    twice = [name for name, count in Counter(header).items() if count > 1]
    if twice:
        raise CsvError(f"the header names {', '.join(twice)} more than once")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvError(f"the header lacks {', '.join(missing)}")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise CsvError(f"unknown columns {', '.join(unknown)}; known: {', '.join(COLUMNS)}")
    reader.fieldnames = header


def _records(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, record) of each row; CsvError once the file cannot be read on."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            record = None  # after the blank lines DictReader passes over: they count too
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            raise CsvError(f"not readable as CSV after line {reader.line_num} ({exc})") from None
        # The underlying reader's count: DictReader's own misses the blank lines before the end.
        if reader.reader.line_num > MAX_ROWS + 1:  # and the header
            raise CsvError(f"more than {MAX_ROWS} rows (blank lines count too): split the file")
        if record is None:
            return
        yield reader.line_num, record


def _dev_eui(record: dict[str, str]) -> str:
    """The row's devEui, once the row has a field for each column and the required ones."""
    if None in record:  # DictReader's key for the fields beyond the header's
        raise CsvError("more fields than the header has columns")
    if None in record.values():  # and its value for the columns a short row lacks
        raise CsvError(
            "fewer fields than the header has columns (leave an optional one empty: "
            "a,b,,d); the values would shift into the wrong columns"
        )
    if not all(record.get(c) for c in REQUIRED):
        raise CsvError("devEui, model and name are required")
    dev_eui = record["devEui"].strip()
    if not _DEV_EUI.fullmatch(dev_eui):
        raise CsvError("devEui must be 16 hex digits")
    return dev_eui


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    errors = body.get("errors") or []
    where = "; ".join(".".join(e["loc"][1:]) + ": " + e["msg"] for e in errors[:3])
    return f"{body.get('detail', response.status_code)}{' (' + where + ')' if where else ''}"


def _base_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def check_access(client: httpx.Client, tenant: str) -> None:
    """Raise `ApiRefused` unless the API answers and the key may register the tenant's devices.

    One request before the first row, so that a hung API, a wrong key or an unknown tenant fails
    the import once rather than once per row. Listing the tenant's keys needs what a device `PUT`
    needs: the tenant's tenant-admin key, or the admin key (404 for an unknown tenant).
    """
    try:
        response = client.get(f"/api/tenants/{tenant}/keys")
    except httpx.HTTPError as exc:
        raise ApiRefused(unreachable(_base_url(client), exc)) from None
    if response.status_code != 200:
        raise ApiRefused(
            f"the API at {_base_url(client)} refused the import into {tenant} "
            f"({response.status_code}): {_problem(response)}"
        )


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    failed: list[str] = field(default_factory=list)
    stopped: str = ""  # why the import stopped before the last row, if it did


def import_devices(
    client: httpx.Client,
    tenant: str,
    rows: Iterator[Row | CsvError],
    advance: Callable[[], object] | None = None,
) -> ImportReport:
    report = ImportReport()
    try:
        _import_rows(client, tenant, rows, advance, report)
    except CsvError as exc:  # the file cannot be read on (a pipe past the size limit)
        report.stopped = str(exc)
    return report


def _import_rows(
    client: httpx.Client,
    tenant: str,
    rows: Iterator[Row | CsvError],
    advance: Callable[[], object] | None,
    report: ImportReport,
) -> None:
    unanswered = 0
    for row in rows:
        if isinstance(row, CsvError):
            report.failed.append(str(row))
        else:
            try:
                response = client.put(f"/api/tenants/{tenant}/devices/{row.dev_eui}",
                                      json=row.body)
            except httpx.HTTPError as exc:
                report.failed.append(f"line {row.line}: {type(exc).__name__}")
                unanswered += 1
                if unanswered == MAX_UNANSWERED:
                    report.stopped = (
                        f"stopped at line {row.line}: no answer from {_base_url(client)} "
                        f"for {MAX_UNANSWERED} rows in a row"
                    )
                    return
            else:
                unanswered = 0
                if response.status_code == 201:
                    report.created += 1
                elif response.status_code == 200:
                    report.updated += 1
                else:
                    report.failed.append(f"line {row.line} ({row.dev_eui}): {_problem(response)}")
        if advance:
            advance()


_TOO_LARGE = f"the file is larger than {MAX_FILE_BYTES // 2**20} MB: split it"


class _Capped(io.RawIOBase):
    """A byte stream that fails past MAX_FILE_BYTES: a pipe has no size to check beforehand."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self._left = MAX_FILE_BYTES

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        read = self._raw.readinto(buffer)
        self._left -= read
        if self._left < 0:
            raise CsvError(_TOO_LARGE)
        return read


def _file_rows(path: Path) -> Iterator[Row | CsvError]:
    """The file's rows as it streams; Excel's byte-order mark is skipped."""
    with (
        path.open("rb") as raw,
        io.TextIOWrapper(io.BufferedReader(_Capped(raw)), encoding="utf-8-sig", newline="")
        as stream,
    ):
        yield from read_rows(stream)


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
            typer.Option(envvar="SMARTBY_ADMIN_KEY", parser=parse_key, show_default=False,
                         help="A tenant-admin key of the tenant, or the admin key."),
        ] = None,
    ) -> None:
        """Import devices from a CSV file (idempotent: existing devices are updated)."""
        # No markup: the tenant, the file and the API's answers are shown as they are.
        console = Console(highlight=False, markup=False, soft_wrap=True)
        require_key(key, "--key", api_url)
        require_tenant_id(tenant)
        regular = file.is_file()  # not a pipe (/dev/stdin, <(...)), which reads only once
        if regular and file.stat().st_size > MAX_FILE_BYTES:
            refuse(_TOO_LARGE)
        try:
            total = sum(1 for _ in _file_rows(file)) if regular else None
            rows = _file_rows(file)
            first = next(rows, None)  # the header is read with it: a wrong one is refused now
            rows = itertools.chain(() if first is None else (first,), rows)
            with httpx.Client(base_url=api_url, timeout=API_TIMEOUT_S,
                              headers={"Authorization": f"Bearer {key}"}) as client:
                check_access(client, tenant)
                with Progress(
                    TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console,
                ) as progress:
                    task = progress.add_task("devices", total=total)
                    report = import_devices(client, tenant, rows, lambda: progress.advance(task))
        except UnicodeDecodeError:
            refuse("the file is not UTF-8 text: save it as CSV UTF-8")
        except CsvError as exc:
            refuse(str(exc))
        except ApiRefused as exc:
            console.print(f"✗ {exc}; nothing was imported")
            raise typer.Exit(1) from None
        console.print(f"✓ {report.created} created, {report.updated} updated")
        for failure in report.failed:
            console.print(f"✗ {failure}")
        if report.stopped:
            console.print(f"✗ {report.stopped}")
        if report.failed or report.stopped:
            raise typer.Exit(1)
