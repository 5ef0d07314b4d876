"""Where the templates are, and small readers over pycep-parser's JSON of a template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infra"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def relative(path: Path | str) -> str:
    return Path(path).resolve().relative_to(INFRA).as_posix()


def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return template.get("resources", {})


def modules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return template.get("modules", {})


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's object, also inside a loop or an `if` (`config.config`)."""
    config = declaration["config"]
    while isinstance(config, dict) and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def description(decorators: list[dict[str, Any]]) -> str | None:
    return next((d["argument"] for d in decorators if d["type"] == "description"), None)


def text(value: Any) -> str:
    """A parsed value as text: literals and `${...}` strings stay as written."""
    return str(value)
