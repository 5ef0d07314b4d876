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


def reference(value: Any) -> str:
    """A parsed name or property access (`roles.eventHubsDataSender`) as its dotted text."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{reference(operands['operand_1'])}.{reference(operands['operand_2'])}"
    return text(value)


_ARITHMETIC = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: int(a / b),  # Bicep divides integers towards zero
}


def evaluate(value: Any, names: dict[str, int]) -> int:
    """An integer expression as the parser read it, with `names` bound (parameters)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return names[value]
    operator = value["operator"]
    operands = operator["operands"]
    return _ARITHMETIC[operator["type"]](
        evaluate(operands["operand_1"], names), evaluate(operands["operand_2"], names)
    )
