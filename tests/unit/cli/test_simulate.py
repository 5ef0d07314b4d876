"""`smartby simulate`: its key, its duration, a failing run and user text in its output."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner

from shared.cli import app, simulate
from tests.unit.simulator.conftest import ADMIN_KEY, FakeApi, problem

RUN = ["simulate", "--tenant", "drammen", "--devices", "2", "--rate", "2"]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    api = FakeApi()
    monkeypatch.setattr(simulate, "_client", lambda api_url: api.client())
    return api


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--admin-key", ADMIN_KEY], env={"SMARTBY_ADMIN_KEY": None, "COLUMNS": "500"}
    )
    return result.exit_code, result.output


def test_a_run_replaces_the_ingest_key_of_the_run_before(api: FakeApi) -> None:
    for _ in range(3):
        code, output = run(*RUN, "--duration", "0.1")
        assert code == 0, output
    assert len(api.demo_keys("drammen", "simulator")) == 1


@pytest.mark.parametrize("duration", ["1e12", "inf", "-1"])
def test_a_duration_beyond_a_year_is_refused(api: FakeApi, duration: str) -> None:
    code, output = run(*RUN, "--duration", duration)
    assert code == 2, output
    assert "--duration" in output
    assert not api.requests


def test_a_failed_run_exits_non_zero_in_one_line(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run_into_a_bug(*args: object) -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(simulate.Simulator, "run", run_into_a_bug)
    code, output = run(*RUN, "--duration", "1")
    assert code == 1, output
    assert "The simulator stopped: OverflowError: date value out of range" in output
    assert "Traceback" not in output


def test_user_text_is_shown_as_typed_never_as_markup(api: FakeApi) -> None:
    code, output = run(*RUN, "--duration", "0.1", "--api-url", "http://smartby.test/[/x]")
    assert code == 0, output
    assert "at http://smartby.test/[/x]." in output
    code, output = run("simulate", "--tenant", "[/x]")
    assert code == 2, output
    assert "✗ --tenant '[/x]' must be a slug" in output


def after_the_first_uplink(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, fault: Callable[[httpx.Request], httpx.Response]
) -> None:
    """The fake API accepts one uplink, then answers every later one with `fault`."""
    route, accepted = api._route, []

    def faulty(request: httpx.Request) -> httpx.Response:
        if "/ingest/" in request.url.path and accepted:
            return fault(request)
        response = route(request)
        accepted.extend([request] if response.status_code == 202 else [])
        return response

    monkeypatch.setattr(api, "_route", faulty)


def revoked(request: httpx.Request) -> httpx.Response:
    return problem(401, "Unauthenticated")


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def invalid(request: httpx.Request) -> httpx.Response:
    return problem(422, "Invalid input")


@pytest.mark.timeout(60)
def test_a_revoked_ingest_key_stops_the_run_at_once_with_one_line(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    after_the_first_uplink(api, monkeypatch, revoked)
    code, output = run(*RUN, "--duration", "30")
    assert code == 1, output
    assert len(api.ingests()) == 2
    assert output.endswith(
        "Done: sent 2, accepted 1, rejected 1 (1x401), errors 0.\n"
        "✗ The simulator stopped: the ingest key of drammen was refused "
        "(HTTP 401 Unauthenticated): revoked, or replaced by a newer run?\n"
    )


@pytest.mark.parametrize("fault", [down, invalid], ids=["server-down", "rejected"])
def test_a_run_with_uplinks_lost_exits_non_zero(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    fault: Callable[[httpx.Request], httpx.Response],
) -> None:
    after_the_first_uplink(api, monkeypatch, fault)
    with caplog.at_level(logging.WARNING, logger="shared.simulator.fleet"):
        code, output = run(*RUN, "--duration", "3")
    assert code == 1, output
    sent = len(api.ingests())
    assert sent >= 4
    assert output.endswith(f"✗ {sent - 1} of {sent} uplinks rejected or not delivered\n")
    assert len(caplog.records) == 1  # once per status, and once per 10 s per connection error
