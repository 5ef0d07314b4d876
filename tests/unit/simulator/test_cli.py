"""`smartby simulate`: provisions, streams for the given duration, and never prints a key."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from shared.cli import simulate
from tests.unit.simulator.conftest import ADMIN_KEY, FakeApi


@pytest.fixture
def cli(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setattr(simulate, "_client", lambda api_url: api.client())
    monkeypatch.delenv("SMARTBY_ADMIN_KEY", raising=False)
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Like `smartby`: commands are subcommands."""

    simulate.register(app)
    return app


def test_simulate_provisions_streams_and_reports(cli: typer.Typer, api: FakeApi) -> None:
    args = ["simulate", "--tenant", "drammen", "--devices", "2", "--rate", "2", "--duration", "2.5"]
    result = CliRunner().invoke(cli, [*args, "--admin-key", ADMIN_KEY])
    assert result.exit_code == 0, result.output
    assert "Created tenant drammen." in result.output
    assert "Registered 2 of 2 devices" in result.output
    assert "Done: sent" in result.output
    assert api.ingests()
    for secret in [ADMIN_KEY, *api.keys]:
        assert secret not in result.output


def test_simulate_exits_non_zero_when_nothing_is_accepted(cli: typer.Typer, api: FakeApi) -> None:
    api.ingest_status = 404
    args = ["simulate", "--tenant", "drammen", "--devices", "2", "--rate", "2", "--duration", "2.5"]
    result = CliRunner().invoke(cli, args, env={"SMARTBY_ADMIN_KEY": ADMIN_KEY})
    assert result.exit_code == 1
    assert "rejected" in result.output


def test_simulate_needs_an_admin_key(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--tenant", "drammen"])
    assert result.exit_code == 2
    assert "pass --admin-key or set SMARTBY_ADMIN_KEY" in result.output


def test_simulate_refuses_a_rate_the_fleet_cannot_send(cli: typer.Typer, api: FakeApi) -> None:
    args = ["simulate", "--tenant", "drammen", "--devices", "2", "--rate", "5"]
    result = CliRunner().invoke(cli, [*args, "--admin-key", ADMIN_KEY])
    assert result.exit_code == 2
    assert not api.requests


def test_simulate_explains_a_refused_setup(cli: typer.Typer, api: FakeApi) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--tenant", "drammen", "--admin-key", "wrong"])
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "wrong" not in result.output
