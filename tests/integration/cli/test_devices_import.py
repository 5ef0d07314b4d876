"""`smartby devices import` against the real API app."""

from __future__ import annotations

import pytest

from shared.cli.devices import CsvError, import_devices, read_rows
from tests.conftest import auth

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
