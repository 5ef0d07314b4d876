"""`smartby devices import` against the real API app."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from shared.cli import app, devices
from shared.cli.devices import CsvError, Row, import_devices, read_rows
from tests.conftest import ADMIN_KEY, auth

KEY = "2b7e151628aed2a6abf7158809cf4f3c"
CSV = f"""devEui,model,name,lat,lon,area,medium,tags,params,appSKey
a84041000181c8d1,dragino-lht65,Glitre badeplass,59.75,10.05,glitre,water,badevann;sommer,,{KEY}
70b3d57050011a2b,decentlab-dl-pr26,Drammenselva nivå,59.74,10.2,elva,water,,pmin=0;pmax=1,
24e124136b502217,no-such-model,Broken,,,,,,,
24e124136b502218,milesight-em300-th,Bad key,,,,,,,nothex
"""


def rows(text: str) -> Iterator[Row | CsvError]:
    return read_rows(io.StringIO(text))


def import_file(tmp_path: Path, content: bytes, *args: str, tenant: str = "drammen") -> Result:
    """`smartby devices import` of `content`, on a wide terminal so that no line wraps."""
    path = tmp_path / "devices.csv"
    path.write_bytes(content)
    return CliRunner().invoke(
        app, ["devices", "import", str(path), "--tenant", tenant, *args],
        env={"COLUMNS": "500", "SMARTBY_ADMIN_KEY": None, "SMARTBY_API_URL": None},
    )


@pytest.fixture
def admin_client(client, make_tenant):
    tenant = make_tenant("drammen", "3301")
    client.headers.update(auth(tenant.keys["tenant-admin"]))
    return client


def test_import_creates_devices_and_reports_bad_rows_by_line(admin_client, platform):
    report = import_devices(admin_client, "drammen", rows(CSV))
    assert (report.created, report.updated) == (2, 0)
    assert len(report.failed) == 2
    assert report.failed[0].startswith("line 4 (24e124136b502217)")
    assert "model: Input should be" in report.failed[0]
    assert report.failed[1].startswith("line 5")
    assert "nothex" not in " ".join(report.failed)
    device = admin_client.get("/api/tenants/drammen/devices/70b3d57050011a2b").json()
    assert device["params"] == {"pmin": 0, "pmax": 1}
    assert admin_client.get("/api/tenants/drammen/devices/a84041000181c8d1").json()[
        "hasAppSKey"] is True


def test_import_twice_updates_instead_of_duplicating(admin_client):
    import_devices(admin_client, "drammen", rows(CSV))
    again = import_devices(admin_client, "drammen", rows(CSV))
    assert (again.created, again.updated) == (0, 2)
    listed = admin_client.get("/api/tenants/drammen/devices").json()["items"]
    assert len(listed) == 2


def test_a_file_without_the_required_columns_is_refused():
    with pytest.raises(CsvError, match="devEui"):
        list(rows("model,name\njson,x\n"))


def test_unknown_columns_are_refused_rather_than_ignored():
    with pytest.raises(CsvError, match="appskey"):
        list(rows("devEui,model,name,appskey\n"))


def test_a_header_naming_a_column_twice_is_refused():
    """DictReader would keep the last of the two columns' values and drop the first's."""
    with pytest.raises(CsvError, match=r"^the header names appSKey more than once$"):
        list(rows(f"devEui,model,name,appSKey,appSKey\n0000000000000001,json,a,{KEY},\n"))
    with pytest.raises(CsvError, match=r"^the header names devEui more than once$"):
        list(rows("devEui,model,name, devEui \n"))


def test_header_names_are_matched_without_surrounding_spaces():
    [row] = rows(" devEui , model,name ,tags\n0000000000000001,json,Bryggen,havn\n")
    assert row == Row(2, "0000000000000001", {"model": "json", "name": "Bryggen",
                                              "tags": ["havn"]})


@pytest.mark.parametrize(("separator", "named"), [(";", "';'"), ("\t", "tabs")])
def test_a_file_separated_by_semicolons_or_tabs_is_refused_by_name(separator, named):
    """Excel with Norwegian settings saves "CSV" separated by `;`: the header is then one
    column, and would be refused as lacking every required one."""
    text = separator.join(["devEui", "model", "name"]) + "\n0000000000000001;json;a\n"
    with pytest.raises(CsvError) as refused:
        list(rows(text))
    assert str(refused.value) == (
        f"the file is separated by {named}, not by commas (as Excel saves CSV with Norwegian "
        "settings): save it comma-separated"
    )


def test_a_dev_eui_on_two_lines_stops_the_reading_in_any_case():
    """The last row would win, with the first row's key (the key store takes a key once);
    a first row that fails for another reason still counts."""
    text = ("devEui,model,name,lat,lon\n"
            "a84041000181c8d1,dragino-lht65,Glitre,north,10.0\n"
            "0000000000000001,json,Bryggen,,\n"
            "A84041000181C8D1,dragino-lht65,Glitre badeplass,,\n")
    read = rows(text)
    assert str(next(read)) == "line 2: lat must be a number (decimal degrees)"
    assert next(read).dev_eui == "0000000000000001"
    with pytest.raises(CsvError, match=r"^line 4: devEui A84041000181C8D1 is also on line 2$"):
        next(read)


def test_a_file_with_a_dev_eui_twice_is_refused_before_any_request(
    tmp_path, api_url, make_tenant, client
):
    key = make_tenant("drammen", "3301").keys["tenant-admin"]
    content = (b"devEui,model,name\n0000000000000001,json,a\n0000000000000002,json,b\n"
               b"0000000000000001,json,c\n")
    result = import_file(tmp_path, content, "--api-url", api_url, "--key", key)
    assert result.exit_code == 2, result.output
    assert result.output == "✗ line 4: devEui 0000000000000001 is also on line 2\n"
    listed = client.get("/api/tenants/drammen/devices", headers=auth(key))
    assert listed.json()["items"] == []


def test_a_file_separated_by_semicolons_is_refused_before_any_request(tmp_path):
    content = "devEui;model;name\n0000000000000001;json;Goksjø\n".encode("utf-8-sig")
    result = import_file(tmp_path, content, "--key", "sby.x", "--api-url", "http://127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert "✗ the file is separated by ';', not by commas" in result.output


def test_malformed_params_fail_only_their_row():
    read = list(rows("devEui,model,name,params\n0000000000000001,json,a,pmin\n"
                     "0000000000000002,json,b,\n"))
    assert isinstance(read[0], CsvError) and "line 2" in str(read[0])
    assert read[1].dev_eui == "0000000000000002"


def test_a_dev_eui_that_is_not_one_fails_its_row_and_never_reaches_another_tenant(
    admin_client, make_tenant, platform
):
    """httpx resolves `../` in a path: a row's devEui must not be able to name another tenant."""
    make_tenant("sandefjord")
    admin_client.headers.update(auth(ADMIN_KEY))  # the platform admin key reaches every tenant
    text = ("devEui,model,name,appSKey\n"
            f"../../sandefjord/devices/0011223344556699,elsys-ers,planted,{KEY}\n"
            "0011223344556699,elsys-ers,fine,\n")
    report = import_devices(admin_client, "drammen", rows(text))
    assert report.failed == ["line 2: devEui must be 16 hex digits"]
    assert report.created == 1
    assert platform.ingestor.registry("sandefjord").list(10, None) == ([], None)


def test_values_that_are_not_json_numbers_fail_their_row_not_the_import(admin_client):
    text = ("devEui,model,name,lat,lon,params\n"
            "0000000000000001,json,a,nan,10.2,\n"
            "0000000000000002,decentlab-dl-pr26,b,,,pmin=inf;pmax=1\n"
            "0000000000000003,json,c,59.7,10.2,\n")
    report = import_devices(admin_client, "drammen", rows(text))
    assert report.failed[0] == "line 2: lat must be a number (decimal degrees)"
    assert report.failed[1].startswith("line 3 (0000000000000002): ")  # pmin "inf" is no number
    assert report.created == 1


def test_a_key_in_the_wrong_column_is_never_repeated_in_the_report(admin_client):
    """A row that lost a field shifts the key into another column."""
    text = ("devEui,model,name,lat,lon,params,appSKey\n"
            f"0000000000000001,json,a,{KEY},10.2,,\n"
            f"0000000000000002,json,b,,,{KEY},\n"
            f"0000000000000003,{KEY},c,,,,\n")
    report = import_devices(admin_client, "drammen", rows(text))
    assert len(report.failed) == 3
    assert KEY not in " ".join(report.failed)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("devEui,model,name\n0000000000000001,json,Goksjø\n".encode("cp1252"), "not UTF-8"),
        (b"devEui,model,name\n0000000000000001,json," + b"x" * 200_000 + b"\n",
         "not readable as CSV after line 1 (field larger than field limit"),
    ],
    ids=["excel-ansi", "huge-field"],
)
def test_a_file_that_cannot_be_read_is_refused_with_a_reason(tmp_path, content, message):
    result = import_file(tmp_path, content, "--key", "sby.x")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_row_with_more_fields_than_the_header_fails_without_repeating_them():
    """The extra field (here the AppSKey, its column missing from the header) is not dropped."""
    first, second = rows(f"devEui,model,name\n0000000000000001,json,a,{KEY}\n"
                         "0000000000000002,json,b\n")
    assert str(first) == "line 2: more fields than the header has columns"
    assert second.dev_eui == "0000000000000002"


@pytest.mark.parametrize(
    "row",
    [
        f"a84041000181c8d9,dragino-lht65,Farris,59.06,10.0,farris,water,{KEY}",  # into tags
        f"a84041000181c8d9,dragino-lht65,Farris,59.06,10.0,{KEY}",  # into area
        f"a84041000181c8d9,dragino-lht65,{KEY}",  # into name
    ],
)
def test_a_row_with_fewer_fields_than_the_header_fails_rather_than_shift_a_key(row):
    """Left-out optional columns would move the AppSKey into a column that is stored and
    shown (a tag, the area, the name), and the device would have no key."""
    header = "devEui,model,name,lat,lon,area,medium,tags,params,appSKey\n"
    [refused] = rows(header + row + "\n")
    assert isinstance(refused, CsvError)
    assert str(refused).startswith("line 2: fewer fields than the header has columns")
    assert KEY not in str(refused)
    [kept] = rows(header + "a84041000181c8d9,dragino-lht65,Farris,,,,,,," + KEY + "\n")
    assert isinstance(kept, Row) and kept.body["appSKey"] == KEY


def import_from_pipe(tmp_path, api_url: str, key: str, text: str):
    """`smartby devices import` of a named pipe that another thread writes `text` into."""
    fifo = tmp_path / "devices.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(text,))
    writer.start()
    result = CliRunner().invoke(
        app, ["devices", "import", str(fifo), "--tenant", "drammen", "--api-url", api_url,
              "--key", key], env={"COLUMNS": "500"},
    )
    writer.join(timeout=10)
    return result


@pytest.mark.timeout(30)  # read twice, the second open of the pipe would wait for a writer
def test_a_file_from_a_pipe_is_read_once(tmp_path, api_url, make_tenant, client):
    """`/dev/stdin` or `<(...)` cannot be read twice (once to count, once to import)."""
    key = make_tenant("drammen", "3301").keys["tenant-admin"]
    result = import_from_pipe(tmp_path, api_url, key,
                              "devEui,model,name\n0000000000000001,json,Bryggen\n")
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated" in result.output


@pytest.mark.timeout(30)
def test_a_pipe_stops_at_a_dev_eui_it_has_read_before(tmp_path, api_url, make_tenant, client):
    """A pipe is read once, with no count first: the rows before the repeat are imported."""
    key = make_tenant("drammen", "3301").keys["tenant-admin"]
    text = ("devEui,model,name\n0000000000000001,json,a\n0000000000000002,json,b\n"
            "0000000000000001,json,c\n0000000000000003,json,d\n")
    result = import_from_pipe(tmp_path, api_url, key, text)
    assert result.exit_code == 1, result.output
    assert "✓ 2 created, 0 updated" in result.output
    assert "✗ line 4: devEui 0000000000000001 is also on line 2" in result.output
    listed = client.get("/api/tenants/drammen/devices", headers=auth(key)).json()["items"]
    assert [(d["devEui"], d["name"]) for d in listed] == [("0000000000000001", "a"),
                                                          ("0000000000000002", "b")]


@pytest.mark.timeout(30)
def test_a_wrong_header_from_a_pipe_is_refused_before_any_request(
    tmp_path, api_url, make_tenant, client
):
    """The header is line 1: it is checked before the API is asked, pipe or not."""
    key = make_tenant("drammen", "3301").keys["tenant-admin"]
    result = import_from_pipe(tmp_path, "http://127.0.0.1:9", key,  # nothing listens there
                              "devEui;model;name\n0000000000000001;json;a\n")
    assert result.exit_code == 2, result.output
    assert "the file is separated by ';'" in result.output


@pytest.mark.timeout(30)
def test_a_pipe_over_the_size_limit_is_refused_as_it_streams(
    tmp_path, api_url, make_tenant, client, monkeypatch
):
    """A pipe has no size to check first: reading stops once it passes the limit (after the
    first 8 KiB read, which holds the header and is checked before any request)."""
    monkeypatch.setattr(devices, "MAX_FILE_BYTES", 10_000)
    key = make_tenant("drammen", "3301").keys["tenant-admin"]
    text = "devEui,model,name\n" + "".join(f"{n:016x},json,Bryggen\n" for n in range(1, 400))
    result = import_from_pipe(tmp_path, api_url, key, text)
    assert result.exit_code == 1, result.output
    assert "larger than" in result.output and "split it" in result.output
    imported, token = 0, None
    while True:
        page = client.get("/api/tenants/drammen/devices", headers=auth(key),
                          params={"limit": 200} | ({"continuation": token} if token else {}))
        imported += len(page.json()["items"])
        if (token := page.json()["continuation"]) is None:
            break
    assert 0 < imported < 399  # what the first 8 KiB held, not all of it
    assert f"✓ {imported} created, 0 updated" in result.output  # what it did is reported


def test_a_param_with_bars_is_a_list_of_texts():
    lists = rows("devEui,model,name,params\n"
                 "a840410000000d20,dragino-lsn50v2-d20,a,wired_inputs=analog_voltage | door_open\n"
                 "a840410000000d21,dragino-lsn50v2-d20,b,wired_inputs=analog_voltage|;x=1\n")
    assert [row.body["params"] for row in lists] == [
        {"wired_inputs": ["analog_voltage", "door_open"]},
        {"wired_inputs": ["analog_voltage"], "x": 1},
    ]


def test_blank_lines_count_toward_the_row_limit(monkeypatch):
    monkeypatch.setattr(devices, "MAX_ROWS", 3)
    with pytest.raises(CsvError, match="more than 3 rows"):
        list(rows("devEui,model,name\n" + "\n" * 5 + "0000000000000001,json,a\n"))
    with pytest.raises(CsvError, match="more than 3 rows"):  # after the last row too
        list(rows("devEui,model,name\n0000000000000001,json,a\n" + "\n" * 5))


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "MAX_FILE_BYTES", 100)
    result = import_file(tmp_path, b"devEui,model,name\n" + b"0000000000000001,json,a\n" * 5,
                         "--key", "sby.x")
    assert result.exit_code == 2
    assert "larger than" in result.output and "split it" in result.output


def test_the_command_imports_a_file_as_it_streams(tmp_path, api_url, make_tenant, client):
    key = make_tenant("drammen", "3301").keys["tenant-admin"]
    text = ("devEui,model,name,params\n"
            "a840410000000d20,dragino-lsn50v2-d20,Glitre,wired_inputs=analog_voltage|door_open\n"
            "\n"
            "0000000000000001,json,Bryggen,\n")
    result = import_file(tmp_path, text.encode("utf-8-sig"), "--api-url", api_url, "--key", key)
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated" in result.output
    device = client.get("/api/tenants/drammen/devices/a840410000000d20", headers=auth(key))
    assert device.json()["params"] == {"wired_inputs": ["analog_voltage", "door_open"]}


@pytest.mark.parametrize(
    ("holder", "tenant", "answer"),
    [
        ("nobody", "drammen", "(401): not a valid API key"),
        ("admin", "nowhere", "(404): no tenant 'nowhere'"),
        ("sandefjord", "drammen", "(403): this key belongs to another tenant"),
        ("drammen-reader", "drammen", "(403): this needs a key with the scope tenant-admin"),
    ],
)
def test_a_refused_key_or_tenant_stops_the_import_once_before_any_row(
    tmp_path, api_url, make_tenant, client, holder, tenant, answer
):
    keys = {
        "nobody": "sby.drammen.000000000000.wrong",
        "admin": ADMIN_KEY,
        "sandefjord": make_tenant("sandefjord").keys["tenant-admin"],
        "drammen-reader": make_tenant("drammen", "3301").keys["read"],
    }
    content = b"devEui,model,name\n" + b"".join(b"%016x,json,d\n" % i for i in range(1, 4))
    result = import_file(tmp_path, content, "--api-url", api_url, "--key", keys[holder],
                         tenant=tenant)
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line == (f"✗ the API at {api_url} refused the import into {tenant} {answer}; "
                    "nothing was imported")
    listed = client.get("/api/tenants/drammen/devices", headers=auth(ADMIN_KEY))
    assert listed.json()["items"] == []


def test_user_text_is_printed_as_it_is_never_as_markup(tmp_path, api_url, make_tenant):
    """A param name is echoed in the API's answer; rich must not read `[/b]` as a closing tag."""
    make_tenant("drammen", "3301")
    content = b"devEui,model,name,params\n0000000000000001,json,a,[/b]=1\n"
    result = import_file(tmp_path, content, "--api-url", api_url, "--key", ADMIN_KEY)
    assert result.exit_code == 1, result.output  # and not a MarkupError
    assert "✗ line 2 (0000000000000001): " in result.output
    assert "params.[/b]" in result.output


def test_a_tenant_that_is_not_one_is_shown_as_typed(tmp_path):
    result = import_file(tmp_path, b"devEui,model,name\n", "--key", "sby.x", tenant="[/x]")
    assert result.exit_code == 2, result.output
    assert "✗ --tenant '[/x]' must be a slug" in result.output


@pytest.mark.parametrize(
    ("answered", "failed_lines", "stopped"),
    [
        ((), [2, 3, 4], "stopped at line 4: no answer from http://api.test for 3 rows in a row"),
        ((3, 6, 9), [2, 3, 5, 6, 8, 9], ""),  # an answer in between starts the count again
    ],
    ids=["hung", "flaky"],
)
def test_the_import_stops_when_rows_in_a_row_get_no_answer(answered, failed_lines, stopped):
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) in answered:
            return httpx.Response(201)
        raise httpx.ConnectTimeout("no answer", request=request)

    text = "devEui,model,name\n" + "".join(f"{n:016x},json,d\n" for n in range(1, 10))
    with httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(api)) as client:
        report = import_devices(client, "drammen", rows(text))
    assert report.failed == [f"line {n}: ConnectTimeout" for n in failed_lines]
    assert report.stopped == stopped
    assert report.created == len(answered)
