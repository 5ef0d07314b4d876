"""Parse Bicep files with pycep-parser; print `{path: {"template": ...} | {"error": ...}}` as JSON.

Runs under the infra virtualenv (`$SMARTBY_INFRA_PYTHON parse_bicep.py FILE...`): pycep-parser
and checkov pin packages the app's own environment cannot share, so the tests call this script
in a subprocess instead of importing pycep.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pycep import BicepParser


def parse_all(paths: list[str]) -> dict[str, dict[str, object]]:
    parser = BicepParser()
    parsed: dict[str, dict[str, object]] = {}
    for path in paths:
        try:
            parsed[path] = {"template": parser.parse(file_path=Path(path))}
        except Exception as exc:  # every parse failure is reported, not raised
            parsed[path] = {"error": f"{type(exc).__name__}: {exc}"}
    return parsed


if __name__ == "__main__":
    json.dump(parse_all(sys.argv[1:]), sys.stdout, default=str)
