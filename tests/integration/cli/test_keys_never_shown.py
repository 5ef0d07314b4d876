"""A key given to a command is never printed, even when the API hangs or the key is malformed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app, devices, onboard
from shared.simulator import fleet

KEY = "sby-admin-TOPSECRETtopsecretTOPSECRET01234567"
TIMEOUT_S = 0.3


def commands(api_url: str, tmp_path: Path) -> dict[str, list[str]]:
    csv = tmp_path / "devices.csv"
    csv.write_text("devEui,model,name\n0000000000000001,json,a\n")
    (tmp_path / "tenant.bicep").touch()  # tmp_path is onboard's infra directory
    return {
        "simulate": ["simulate", "--tenant", "larvik", "--api-url", api_url],
        "onboard": ["onboard", "--tenant", "larvik", "--name", "Larvik", "--kommunenummer",
                    "3909", "--infra-dir", str(tmp_path), "--api-url", api_url],
        "devices import": ["devices", "import", str(csv), "--tenant", "larvik",
                           "--api-url", api_url],
    }


@pytest.fixture(autouse=True)
def _short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "REQUEST_TIMEOUT", TIMEOUT_S)
    monkeypatch.setattr(onboard, "API_TIMEOUT_S", TIMEOUT_S)
    monkeypatch.setattr(devices, "API_TIMEOUT_S", TIMEOUT_S)


def run(args: list[str], key: str) -> tuple[int, str]:
    """Exit code and output (on a wide terminal, so that no line wraps)."""
    result = CliRunner().invoke(app, args, env={"SMARTBY_ADMIN_KEY": key, "COLUMNS": "500"})
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["simulate", "onboard", "devices import"])
@pytest.mark.parametrize("suffix", [" ", "\r", "\r\n"], ids=["space", "cr", "crlf"])
def test_a_key_with_surrounding_whitespace_is_sent_without_it_and_never_printed(
    hung_api_url, tmp_path, command, suffix
):
    """Pasted, or `$(cat key.txt)` of a CRLF file: httpx's error for such a header held the key."""
    code, output = run(commands(hung_api_url, tmp_path)[command], KEY + suffix)
    assert code == 1, output
    assert "ReadTimeout" in output and hung_api_url in output  # sent, and the API never answered
    assert KEY not in "".join(output.split())


@pytest.mark.parametrize("command", ["simulate", "onboard", "devices import"])
def test_a_key_with_a_control_character_is_refused_without_showing_it(
    hung_api_url, tmp_path, command
):
    code, output = run(commands(hung_api_url, tmp_path)[command], KEY[:20] + "\x1b" + KEY[20:])
    assert code == 2, output
    assert "control character" in output
    assert "TOPSECRET" not in output
