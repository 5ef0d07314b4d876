"""The checks every command makes before its first request read the same in each command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app

API_URL = "http://api.test"


def commands(tmp_path: Path, tenant: str) -> dict[str, tuple[list[str], str]]:
    """Each command's arguments for `tenant`, and the option that takes its key."""
    csv = tmp_path / "devices.csv"
    csv.write_text("devEui,model,name\n0000000000000001,json,a\n")
    return {
        "devices import": (["devices", "import", str(csv), "--tenant", tenant], "--key"),
        "simulate": (["simulate", "--tenant", tenant], "--admin-key"),
        "onboard": (["onboard", "--tenant", tenant, "--name", "Larvik", "--kommunenummer",
                     "3909", "--infra-dir", str(tmp_path)], "--admin-key"),
    }


def run(args: list[str], key: str | None = None) -> tuple[int, str]:
    env = {"SMARTBY_ADMIN_KEY": key, "SMARTBY_API_URL": API_URL, "COLUMNS": "500"}
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["devices import", "simulate", "onboard"])
def test_a_missing_key_is_refused_in_the_same_words(tmp_path: Path, command: str) -> None:
    args, option = commands(tmp_path, "larvik")[command]
    code, output = run(args)
    assert code == 2, output
    assert output == f"✗ no key for the API at {API_URL}: pass {option} or set SMARTBY_ADMIN_KEY\n"
    assert not (tmp_path / "tenants").exists()


@pytest.mark.parametrize("command", ["devices import", "simulate", "onboard"])
def test_a_tenant_that_is_not_one_is_refused_in_the_same_words(
    tmp_path: Path, command: str
) -> None:
    args, _ = commands(tmp_path, "Larvik kommune")[command]
    code, output = run(args, key="sby.some-key")
    assert code == 2, output
    assert (
        "--tenant 'Larvik kommune' must be a slug of 2-14 characters: a lowercase letter, then "
        "lowercase letters, digits and single inner hyphens (e.g. sandefjord)"
    ) in output
