"""`smartby simulate`: its key, its duration, a failing run and user text in its output."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shared.cli import app, simulate
from tests.unit.simulator.conftest import ADMIN_KEY, FakeApi

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
