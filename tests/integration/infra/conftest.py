"""Fixtures of the Bicep tests: the templates parsed by pycep-parser and one checkov scan.

Both tools live in their own virtualenv (`.venv-infra`, from requirements-infra.txt) and are run
through `$SMARTBY_INFRA_PYTHON`. Without it the tests fail (never skip): run `make setup`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .bicep import INFRA, REPO, bicep_files, relative

PARSE_SCRIPT = Path(__file__).with_name("parse_bicep.py")


@pytest.fixture(scope="session")
def infra_python() -> str:
    python = os.environ.get("SMARTBY_INFRA_PYTHON")
    if not python:
        pytest.fail(
            "SMARTBY_INFRA_PYTHON is not set: it must point at .venv-infra/bin/python, the "
            "virtualenv with pycep-parser and checkov. Run `make setup` "
            "(then `make test` sets it).",
            pytrace=False,
        )
    if not Path(python).is_file():
        pytest.fail(
            f"SMARTBY_INFRA_PYTHON={python} does not exist; "
            "run `make setup` to create .venv-infra.",
            pytrace=False,
        )
    return python


@pytest.fixture(scope="session")
def parsed(infra_python: str) -> dict[str, dict[str, Any]]:
    """`relative path -> {"template": pycep JSON} | {"error": message}` for every .bicep file."""
    files = bicep_files()
    assert files, f"no .bicep files under {INFRA}"
    result = subprocess.run(
        [infra_python, str(PARSE_SCRIPT), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"parse_bicep.py failed:\n{result.stderr[-4000:]}"
    return {relative(path): entry for path, entry in json.loads(result.stdout).items()}


@pytest.fixture(scope="session")
def templates(parsed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Only the files that parsed; `test_every_bicep_file_parses` reports the others."""
    return {path: entry["template"] for path, entry in parsed.items() if "template" in entry}


@pytest.fixture(scope="session")
def checkov_report(infra_python: str) -> dict[str, Any]:
    """One checkov Bicep scan of infra/, listing passed and skipped checks (for their reasons)."""
    result = subprocess.run(
        [
            infra_python,
            "-m",
            "checkov.main",
            "-d",
            str(INFRA),
            "--framework",
            "bicep",
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "LOG_LEVEL": "ERROR"},
    )
    # checkov exits 1 when a check fails; the test reads the report either way.
    assert result.returncode in (0, 1), f"checkov crashed:\n{result.stderr[-4000:]}"
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(result.stdout[-2000:])
        raise
    if isinstance(report, list):  # one entry per framework when several ran
        [report] = [r for r in report if r.get("check_type") == "bicep"]
    return report
