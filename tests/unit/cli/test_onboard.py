"""`smartby onboard`: validation, the parameter file, the API calls and the command itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from shared.cli import onboard
from shared.cli.onboard import (
    AdminKey,
    ApiProblem,
    FileConflict,
    OnboardError,
    TenantSpec,
    api_client,
    bicepparam_path,
    diff_bicepparam,
    diff_tenant,
    ensure_tenant,
    parse_literal,
    read_bicepparam,
    render_bicepparam,
    validate,
    write_bicepparam,
)

ADMIN_KEY = "adm1n-k3y-never-shown-0123456789"
SANDEFJORD = TenantSpec(
    id="sandefjord",
    name="Sandefjord kommune",
    kommunenummer="3907",
    budget=5000,
    contact_emails=("iot@sandefjord.kommune.example",),
    budget_start="2026-11",
)
REPO_INFRA = Path(__file__).resolve().parents[3] / "infra"


# --- validation --------------------------------------------------------------------------------


def test_accepts_a_plain_municipality() -> None:
    validate(SANDEFJORD)
    validate(TenantSpec(id="nord-aurdal", name="Nord-Aurdal", kommunenummer="3451"))


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"id": "Sandefjord"}, "must be a slug"),
        ({"id": "s"}, "must be a slug"),
        ({"id": "aurskog-holand-x"}, "2-14 characters"),
        ({"id": "nord--aurdal"}, "single inner hyphens"),
        ({"id": "drammen-"}, "single inner hyphens"),
        ({"id": "platform"}, "reserved for the platform"),
        ({"kommunenummer": "390"}, "four digits"),
        ({"locale": "norsk"}, "--locale"),
        ({"timezone": "Europe/Sandefjord"}, "IANA"),
        ({"name": " "}, "--name"),
        ({"name": "Tjøme\n// x"}, "one line of printable characters"),
        ({"budget": 0}, "positive"),
        ({"contact_emails": ("not-an-address",)}, "not an e-mail"),
        ({"contact_emails": ()}, "needs at least one --contact-email"),
        ({"budget_start": "2026-13"}, "must be a month"),
        ({"budget_start": "2026-11", "budget": None}, "--budget-start needs --budget"),
    ],
)
def test_rejects_bad_options_with_a_clear_message(changes: dict, complaint: str) -> None:
    spec = TenantSpec(**{**SANDEFJORD.__dict__, **changes})
    with pytest.raises(OnboardError, match=complaint):
        validate(spec)


def test_lists_every_problem_at_once() -> None:
    spec = TenantSpec(id="X", name="", kommunenummer="12")
    with pytest.raises(OnboardError) as raised:
        validate(spec)
    assert str(raised.value).count("\n  - ") == 3


# --- the parameter file ------------------------------------------------------------------------


def test_renders_the_tenant_entry_parameters() -> None:
    text = render_bicepparam(SANDEFJORD)
    assert "using '../tenant.bicep'\n" in text
    assert read_bicepparam(text) == {
        "tenantId": "'sandefjord'",
        "tenantName": "'Sandefjord kommune'",
        "kommunenummer": "'3907'",
        "locale": "'nb-NO'",
        "timezone": "'Europe/Oslo'",
        "budgetAmount": "5000",
        "contactEmails": "[\n  'iot@sandefjord.kommune.example'\n]",
        "budgetStartDate": "'2026-11-01T00:00:00Z'",
    }


def test_rendering_escapes_quotes_and_interpolation() -> None:
    spec = TenantSpec(id="test", name="O'Brien ${x} \\ kommune", kommunenummer="0301")
    text = render_bicepparam(spec)
    assert "param tenantName = 'O\\'Brien \\${x} \\\\ kommune'" in text
    assert parse_literal(read_bicepparam(text)["tenantName"]) == spec.name


def test_without_a_budget_the_amount_is_zero() -> None:
    text = render_bicepparam(TenantSpec(id="drammen", name="Drammen", kommunenummer="3301"))
    assert "param budgetAmount = 0\n" in text
    assert "param contactEmails = []\n" in text


def test_reads_literals_and_ignores_comments() -> None:
    text = (
        "using '../tenant.bicep'\n"
        "param tenantId = 'sandefjord' // the slug\n"
        "param contactEmails = [ // recipients\n"
        "  'a@x.example'   // first\n"
        "  'b@x.example'\n"
        "]\n"
        "param budgetAmount = 42\n"
    )
    params = read_bicepparam(text)
    assert parse_literal(params["tenantId"]) == "sandefjord"
    assert parse_literal(params["contactEmails"]) == ["a@x.example", "b@x.example"]
    assert parse_literal(params["budgetAmount"]) == 42
    with pytest.raises(ValueError):
        parse_literal("readEnvironmentVariable('X')")


def test_example_tenant_files_are_what_onboard_writes() -> None:
    drammen = TenantSpec(
        id="drammen",
        name="Drammen kommune",
        kommunenummer="3301",
        budget=8000,
        contact_emails=("iot@drammen.kommune.example", "okonomi@drammen.kommune.example"),
        budget_start="2026-11",
    )
    for spec in (SANDEFJORD, drammen):
        path = bicepparam_path(REPO_INFRA, spec.id)
        assert path.read_text() == render_bicepparam(spec), path.name


def test_creates_the_file(tmp_path: Path) -> None:
    path = bicepparam_path(tmp_path, "sandefjord")
    outcome = write_bicepparam(path, SANDEFJORD)
    assert outcome.status == "created"
    assert path.read_text() == render_bicepparam(SANDEFJORD)


def test_second_run_does_not_rewrite_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = bicepparam_path(tmp_path, "sandefjord")
    write_bicepparam(path, SANDEFJORD)

    def no_writes(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was rewritten")

    monkeypatch.setattr(Path, "write_text", no_writes)
    assert write_bicepparam(path, SANDEFJORD).status == "unchanged"


def test_keeps_a_reformatted_file_with_the_same_values(tmp_path: Path) -> None:
    path = bicepparam_path(tmp_path, "sandefjord")
    write_bicepparam(path, SANDEFJORD)
    edited = path.read_text().replace("param locale = 'nb-NO'", "param locale = 'nb-NO' // bokmål")
    path.write_text(edited)
    assert write_bicepparam(path, SANDEFJORD).status == "kept"
    assert path.read_text() == edited


def test_refuses_to_overwrite_hand_edited_values(tmp_path: Path) -> None:
    path = bicepparam_path(tmp_path, "sandefjord")
    write_bicepparam(path, SANDEFJORD)
    edited = path.read_text().replace("budgetAmount = 5000", "budgetAmount = 7000")
    path.write_text(edited)
    with pytest.raises(FileConflict) as raised:
        write_bicepparam(path, SANDEFJORD)
    assert [(d.param, d.current, d.wanted) for d in raised.value.differences] == [
        ("budgetAmount", 7000, 5000)
    ]
    assert "--force" in str(raised.value)
    assert path.read_text() == edited


def test_force_overwrites_and_keeps_hand_added_parameters(tmp_path: Path) -> None:
    path = bicepparam_path(tmp_path, "sandefjord")
    write_bicepparam(path, SANDEFJORD)
    path.write_text(
        path.read_text().replace("budgetAmount = 5000", "budgetAmount = 1")
        + "param cosmosDedicatedMaxThroughput = 2000\n"
    )
    outcome = write_bicepparam(path, SANDEFJORD, force=True)
    assert outcome.status == "updated"
    assert [d.param for d in outcome.differences] == ["budgetAmount"]
    params = read_bicepparam(path.read_text())
    assert params["budgetAmount"] == "5000"
    assert params["cosmosDedicatedMaxThroughput"] == "2000"
    assert write_bicepparam(path, SANDEFJORD).status == "unchanged"


def test_a_budget_keeps_the_month_it_started_in(tmp_path: Path) -> None:
    """Azure refuses to change a budget's start date: every later run, in any month, must
    deploy the date the budget was created with."""
    path = bicepparam_path(tmp_path, "sandefjord")
    spec = replace(SANDEFJORD, budget_start=None)
    assert write_bicepparam(path, spec, now=datetime(2026, 11, 30, tzinfo=UTC)).status == "created"
    assert "param budgetStartDate = '2026-11-01T00:00:00Z'\n" in path.read_text()
    assert write_bicepparam(path, spec, now=datetime(2027, 2, 1, tzinfo=UTC)).status == "unchanged"

    raised = replace(spec, budget=9000)
    outcome = write_bicepparam(path, raised, force=True, now=datetime(2027, 3, 1, tzinfo=UTC))
    assert [d.param for d in outcome.differences] == ["budgetAmount"]
    assert parse_literal(read_bicepparam(path.read_text())["budgetStartDate"]) == (
        "2026-11-01T00:00:00Z"
    )


def test_a_budget_from_before_start_dates_were_kept_needs_its_month(tmp_path: Path) -> None:
    path = bicepparam_path(tmp_path, "sandefjord")
    write_bicepparam(path, SANDEFJORD)
    legacy = path.read_text().replace("param budgetStartDate = '2026-11-01T00:00:00Z'\n", "")
    path.write_text(legacy)
    with pytest.raises(OnboardError, match="--budget-start"):
        write_bicepparam(path, replace(SANDEFJORD, budget_start=None), force=True)
    outcome = write_bicepparam(path, replace(SANDEFJORD, budget_start="2026-03"), force=True)
    assert [d.param for d in outcome.differences] == ["budgetStartDate"]
    assert "param budgetStartDate = '2026-03-01T00:00:00Z'\n" in path.read_text()


def test_a_budget_set_up_again_starts_in_its_own_month(tmp_path: Path) -> None:
    path = bicepparam_path(tmp_path, "sandefjord")
    write_bicepparam(path, SANDEFJORD)
    without = replace(SANDEFJORD, budget=None, budget_start=None, contact_emails=())
    write_bicepparam(path, without, force=True)
    assert "budgetStartDate" not in read_bicepparam(path.read_text())

    again = replace(SANDEFJORD, budget_start=None)
    write_bicepparam(path, again, force=True, now=datetime(2027, 5, 17, tzinfo=UTC))
    assert parse_literal(read_bicepparam(path.read_text())["budgetStartDate"]) == (
        "2027-05-01T00:00:00Z"
    )


def test_diff_reports_missing_parameters() -> None:
    text = "using '../tenant.bicep'\nparam tenantId = 'sandefjord'\n"
    missing = {d.param for d in diff_bicepparam(text, SANDEFJORD) if d.current == "(missing)"}
    assert missing == {
        "tenantName",
        "kommunenummer",
        "locale",
        "timezone",
        "budgetAmount",
        "contactEmails",
        "budgetStartDate",
    }


# --- the API -----------------------------------------------------------------------------------


def test_diff_tenant_names_only_changed_fields() -> None:
    current = {
        "id": "x",
        "name": "A",
        "kommunenummer": "3907",
        "locale": "nb-NO",
        "retentionDays": 9,
    }
    wanted = {"id": "x", "name": "B", "kommunenummer": "3907", "locale": "nn-NO", "timezone": "UTC"}
    assert diff_tenant(current, wanted) == {"name": "B", "locale": "nn-NO", "timezone": "UTC"}
    assert diff_tenant(current, {"id": "x", "name": "A"}) == {}


class FakeApi:
    """The tenants API at the HTTP boundary: records requests, answers like the real one."""

    def __init__(self, existing: dict | None = None) -> None:
        self.tenants: dict[str, dict] = {} if existing is None else {existing["id"]: existing}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.auth: set[str | None] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        self.auth.add(request.headers.get("authorization"))
        if request.method == "POST" and request.url.path == "/api/tenants":
            if body["id"] in self.tenants:
                return problem(409, "Conflict", f"tenant {body['id']} already exists")
            self.tenants[body["id"]] = {**body, "retentionDays": 400}
            return httpx.Response(201, json=self.tenants[body["id"]])
        tenant_id = request.url.path.rsplit("/", 1)[-1]
        if request.method == "GET":
            return httpx.Response(200, json=self.tenants[tenant_id])
        if request.method == "PATCH":
            self.tenants[tenant_id].update(body)
            return httpx.Response(200, json=self.tenants[tenant_id])
        return problem(405, "Method not allowed", "")

    def methods(self) -> list[str]:
        return [method for method, _, _ in self.requests]


def problem(status: int, title: str, detail: str, **extra: object) -> httpx.Response:
    return httpx.Response(
        status,
        json={"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        headers={"content-type": "application/problem+json"},
    )


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return api_client("https://smartby.example/", AdminKey(ADMIN_KEY), httpx.MockTransport(handler))


def test_creates_a_new_tenant() -> None:
    api = FakeApi()
    with client_for(api) as client:
        assert ensure_tenant(client, SANDEFJORD).status == "created"
    assert api.requests == [
        (
            "POST",
            "/api/tenants",
            {
                "id": "sandefjord",
                "name": "Sandefjord kommune",
                "kommunenummer": "3907",
                "locale": "nb-NO",
                "timezone": "Europe/Oslo",
            },
        )
    ]
    assert api.auth == {f"Bearer {ADMIN_KEY}"}


def test_conflict_then_get_then_patch_only_what_differs() -> None:
    api = FakeApi(
        existing={
            "id": "sandefjord",
            "name": "Sandefjord",
            "kommunenummer": "3907",
            "locale": "nb-NO",
            "timezone": "Europe/Oslo",
        }
    )
    with client_for(api) as client:
        outcome = ensure_tenant(client, SANDEFJORD)
    assert outcome.status == "updated"
    assert outcome.changed == {"name": "Sandefjord kommune"}
    assert api.methods() == ["POST", "GET", "PATCH"]
    assert api.requests[2] == ("PATCH", "/api/tenants/sandefjord", {"name": "Sandefjord kommune"})


def test_second_run_changes_nothing() -> None:
    api = FakeApi()
    with client_for(api) as client:
        assert ensure_tenant(client, SANDEFJORD).status == "created"
        assert ensure_tenant(client, SANDEFJORD).status == "unchanged"
    assert api.methods() == ["POST", "POST", "GET"]


def test_problem_json_errors_keep_title_detail_and_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return problem(
            422,
            "Invalid input",
            "the request body is not valid",
            errors=[{"loc": ["body", "kommunenummer"], "msg": "String should match pattern"}],
        )

    with client_for(refuse) as client, pytest.raises(ApiProblem) as raised:
        ensure_tenant(client, SANDEFJORD)
    assert (raised.value.status, raised.value.title) == (422, "Invalid input")
    assert "body.kommunenummer: String should match pattern" in raised.value.detail
    assert str(raised.value).startswith("422 Invalid input: the request body is not valid")


def test_errors_without_problem_json_are_still_shown() -> None:
    with (
        client_for(lambda request: httpx.Response(502, text="<html>Bad gateway</html>")) as client,
        pytest.raises(ApiProblem, match="502 Bad Gateway: <html>Bad gateway</html>"),
    ):
        ensure_tenant(client, SANDEFJORD)


def test_a_failing_read_back_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return problem(409, "Conflict", "exists")
        return problem(403, "Forbidden", "admin key required")

    with client_for(handler) as client, pytest.raises(ApiProblem, match="403 Forbidden"):
        ensure_tenant(client, SANDEFJORD)


def test_a_read_back_that_is_not_json_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return problem(409, "Conflict", "exists")
        return httpx.Response(200, text="<html>login page</html>")

    with client_for(handler) as client, pytest.raises(ApiProblem, match="not JSON"):
        ensure_tenant(client, SANDEFJORD)


def test_client_uses_the_base_url_and_a_ten_second_timeout() -> None:
    with client_for(FakeApi()) as client:
        assert str(client.base_url) == "https://smartby.example"
        assert client.timeout == httpx.Timeout(10.0)


def test_the_admin_key_does_not_show_in_reprs() -> None:
    key = AdminKey(ADMIN_KEY)
    assert ADMIN_KEY not in repr(key) and ADMIN_KEY not in str(key)
    assert key.reveal() == ADMIN_KEY


# --- the command -------------------------------------------------------------------------------


def run(
    args: list[str],
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
    admin_key: str | None = ADMIN_KEY,
) -> tuple[int, str]:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Smartby (test app)."""

    onboard.register(app, transport=httpx.MockTransport(handler) if handler else None)
    env = {"SMARTBY_ADMIN_KEY": admin_key, "SMARTBY_API_URL": None}
    result = CliRunner().invoke(app, ["onboard", *args], env=env)
    return result.exit_code, result.output


def sandefjord_args(tmp_path: Path) -> list[str]:
    """Options for Sandefjord, with `tmp_path` as an infra directory (it gets a tenant.bicep)."""
    (tmp_path / "tenant.bicep").touch()
    return [
        "--tenant", "sandefjord",
        "--name", "Sandefjord kommune",
        "--kommunenummer", "3907",
        "--budget", "5000",
        "--contact-email", "iot@sandefjord.kommune.example",
        "--budget-start", "2026-11",
        "--infra-dir", str(tmp_path),
    ]  # fmt: skip


def test_command_writes_the_file_and_creates_the_tenant(tmp_path: Path) -> None:
    api = FakeApi()
    code, output = run([*sandefjord_args(tmp_path), "--api-url", "https://x.example"], api)
    assert code == 0, output
    assert "✓ Wrote" in output and "✓ Created tenant sandefjord" in output
    assert bicepparam_path(tmp_path, "sandefjord").read_text() == render_bicepparam(SANDEFJORD)

    code, output = run([*sandefjord_args(tmp_path), "--api-url", "https://x.example"], api)
    assert code == 0, output
    assert "is up to date" in output and "already exists with these settings" in output
    assert api.methods() == ["POST", "POST", "GET"]
    assert ADMIN_KEY not in output


def test_command_without_an_api_url_only_writes_the_file(tmp_path: Path) -> None:
    code, output = run(sandefjord_args(tmp_path))
    assert code == 0, output
    assert "API step skipped" in output
    assert bicepparam_path(tmp_path, "sandefjord").exists()


def test_command_with_an_api_url_but_no_key_writes_nothing(tmp_path: Path) -> None:
    code, output = run([*sandefjord_args(tmp_path), "--api-url", "https://x.example"],
                       admin_key=None)  # fmt: skip
    assert code == 2
    assert output == (
        "✗ no key for the API at https://x.example: pass --admin-key or set SMARTBY_ADMIN_KEY\n"
    )
    assert not bicepparam_path(tmp_path, "sandefjord").exists()


def test_command_shows_api_problems_and_exits_non_zero(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return problem(401, "Unauthenticated", "the admin key is wrong")

    code, output = run([*sandefjord_args(tmp_path), "--api-url", "https://x.example"], refuse)
    assert code == 1
    assert "401 Unauthenticated: the admin key is wrong" in output
    assert ADMIN_KEY not in output


def test_command_reports_an_unreachable_api(tmp_path: Path) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    code, output = run([*sandefjord_args(tmp_path), "--api-url", "https://x.example"], down)
    assert code == 1
    assert "cannot reach the API" in output and ADMIN_KEY not in output


def test_command_rejects_invalid_options_before_touching_anything(tmp_path: Path) -> None:
    code, output = run(["--tenant", "Bad Id", "--name", "X", "--kommunenummer", "12",
                        "--infra-dir", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "must be a slug" in output and "four digits" in output
    assert not (tmp_path / "tenants").exists()


def test_command_refuses_hand_edited_values_unless_forced(tmp_path: Path) -> None:
    run(sandefjord_args(tmp_path))
    path = bicepparam_path(tmp_path, "sandefjord")
    path.write_text(path.read_text().replace("'nb-NO'", "'nn-NO'"))
    code, output = run(sandefjord_args(tmp_path))
    assert code == 1 and "locale" in output and "--force" in output
    code, output = run([*sandefjord_args(tmp_path), "--force"])
    assert code == 0 and "Overwrote" in output
    assert "param locale = 'nb-NO'" in path.read_text()


def test_command_needs_the_admin_key_with_an_api_url(tmp_path: Path) -> None:
    api = FakeApi()
    args = [*sandefjord_args(tmp_path), "--api-url", "https://x.example"]
    code, output = run(args, api, admin_key=None)
    assert code == 2 and "SMARTBY_ADMIN_KEY" in output
    assert api.requests == []


def test_a_key_of_only_whitespace_is_no_key(tmp_path: Path) -> None:
    api = FakeApi()
    args = [*sandefjord_args(tmp_path), "--api-url", "https://x.example"]
    code, output = run(args, api, admin_key=" \r\n")
    assert code == 2 and "no key for the API" in output
    assert api.requests == []


@pytest.mark.parametrize("infra", ["no-such-dir", "."], ids=["missing", "not-infra"])
def test_command_refuses_an_infra_dir_without_tenant_bicep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, infra: str
) -> None:
    """Run outside the repository, the file would name a '../tenant.bicep' that is not there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    api = FakeApi()
    args = [*sandefjord_args(tmp_path)[:-1], infra, "--api-url", "https://x.example"]
    code, output = run(args, api)
    assert code == 2, output
    assert output.endswith(
        f"✗ {Path(infra) / 'tenant.bicep'} does not exist: run smartby onboard in the "
        "repository's root, or pass --infra-dir with the repository's infra directory\n"
    )
    assert not list(tmp_path.rglob("*.bicepparam")) and api.requests == []


def test_command_defaults_to_the_infra_dir_of_the_repository_it_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "infra").mkdir()
    args = sandefjord_args(tmp_path / "infra")[:-2]  # without --infra-dir
    code, output = run(args)
    assert code == 0, output
    assert bicepparam_path(Path("infra"), "sandefjord").is_file()
