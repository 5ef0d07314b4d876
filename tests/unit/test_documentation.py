"""The documents a user reads first stay true to the code."""

from __future__ import annotations

import json
from pathlib import Path

from shared.settings import setting_names

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in setting_names() if f"`{name}`" not in readme]
    assert missing == []


def test_example_local_settings_list_every_setting():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    missing = [name for name in setting_names() if name not in values]
    assert missing == []


def test_readme_shows_the_two_commands_and_ci_runs_only_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith("#") and not line.startswith("set ")
                and not line.startswith("cd ")]
    assert commands == ["make test"]
