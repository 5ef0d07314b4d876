"""`smartby devices import` against the real API app."""

from __future__ import annotations

import pytest

from shared.cli.devices import CsvError, import_devices, read_rows
from tests.conftest import ADMIN_KEY, auth

KEY = "2b7e151628aed2a6abf7158809cf4f3c"
CSV = f"""devEui,model,name,lat,lon,area,medium,tags,params,appSKey
a84041000181c8d1,dragino-lht65,Glitre badeplass,59.75,10.05,glitre,water,badevann;sommer,,{KEY}
70b3d57050011a2b,decentlab-dl-pr26,Drammenselva nivå,59.74,10.2,elva,water,,pmin=0;pmax=1,
24e124136b502217,no-such-model,Broken,,,,,,,
24e124136b502218,milesight-em300-th,Bad key,,,,,,,nothex
"""


@pytest.fixture
def admin_client(client, make_tenant):
    tenant = make_tenant("drammen", "3301")
    client.headers.update(auth(tenant.keys["tenant-admin"]))
    return client


def test_import_creates_devices_and_reports_bad_rows_by_line(admin_client, platform):
    report = import_devices(admin_client, "drammen", read_rows(CSV))
    assert (report.created, report.updated) == (2, 0)
    assert len(report.failed) == 2
    assert report.failed[0].startswith("line 4 (24e124136b502217)")
    assert "unknown model" in report.failed[0]
    assert report.failed[1].startswith("line 5")
    assert "nothex" not in " ".join(report.failed)
    device = admin_client.get("/api/tenants/drammen/devices/70b3d57050011a2b").json()
    assert device["params"] == {"pmin": 0, "pmax": 1}
    assert admin_client.get("/api/tenants/drammen/devices/a84041000181c8d1").json()[
        "hasAppSKey"] is True


def test_import_twice_updates_instead_of_duplicating(admin_client):
    import_devices(admin_client, "drammen", read_rows(CSV))
    again = import_devices(admin_client, "drammen", read_rows(CSV))
    assert (again.created, again.updated) == (0, 2)
    listed = admin_client.get("/api/tenants/drammen/devices").json()["items"]
    assert len(listed) == 2


def test_a_file_without_the_required_columns_is_refused():
    with pytest.raises(CsvError, match="devEui"):
        list(read_rows("model,name\njson,x\n"))


def test_unknown_columns_are_refused_rather_than_ignored():
    with pytest.raises(CsvError, match="appskey"):
        list(read_rows("devEui,model,name,appskey\n"))


def test_malformed_params_fail_only_their_row():
    rows = list(read_rows("devEui,model,name,params\n0000000000000001,json,a,pmin\n"
                          "0000000000000002,json,b,\n"))
    assert isinstance(rows[0], CsvError) and "line 2" in str(rows[0])
    assert rows[1].dev_eui == "0000000000000002"


def test_a_dev_eui_that_is_not_one_fails_its_row_and_never_reaches_another_tenant(
    admin_client, make_tenant, platform
):
    """httpx resolves `../` in a path: a row's devEui must not be able to name another tenant."""
    make_tenant("sandefjord")
    admin_client.headers.update(auth(ADMIN_KEY))  # the platform admin key reaches every tenant
    text = ("devEui,model,name,appSKey\n"
            f"../../sandefjord/devices/0011223344556699,elsys-ers,planted,{KEY}\n"
            "0011223344556699,elsys-ers,fine,\n")
    report = import_devices(admin_client, "drammen", read_rows(text))
    assert report.failed == ["line 2: devEui must be 16 hex digits"]
    assert report.created == 1
    assert platform.ingestor.registry("sandefjord").list(10, None) == ([], None)


def test_values_that_are_not_json_numbers_fail_their_row_not_the_import(admin_client):
    text = ("devEui,model,name,lat,lon,params\n"
            "0000000000000001,json,a,nan,10.2,\n"
            "0000000000000002,decentlab-dl-pr26,b,,,pmin=inf;pmax=1\n"
            "0000000000000003,json,c,59.7,10.2,\n")
    report = import_devices(admin_client, "drammen", read_rows(text))
    assert report.failed[0] == "line 2: lat must be a number (decimal degrees)"
    assert report.failed[1].startswith("line 3 (0000000000000002): ")  # pmin "inf" is no number
    assert report.created == 1


def test_a_key_in_the_wrong_column_is_never_repeated_in_the_report(admin_client):
    """A row that lost a field shifts the key into another column."""
    text = ("devEui,model,name,lat,lon,params,appSKey\n"
            f"0000000000000001,json,a,{KEY},10.2,,\n"
            f"0000000000000002,json,b,,,{KEY},\n"
            f"0000000000000003,{KEY},c,,,,\n")
    report = import_devices(admin_client, "drammen", read_rows(text))
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
    from typer.testing import CliRunner

    from shared.cli import app

    path = tmp_path / "devices.csv"
    path.write_bytes(content)
    result = CliRunner().invoke(
        app, ["devices", "import", str(path), "--tenant", "drammen", "--key", "sby.x"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
