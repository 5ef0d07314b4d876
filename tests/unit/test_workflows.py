"""The GitHub workflows: a deploy job holds Azure rights, so what it runs must not move."""

from __future__ import annotations

import re
from pathlib import Path

WORKFLOWS = sorted((Path(__file__).parents[2] / ".github" / "workflows").glob("*.yml"))
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)", re.MULTILINE)
#: Its release commit could not be confirmed when the workflow was written (see the comment in
#: deploy-environment.yml); every other action is pinned.
NOT_YET_PINNED = {"Azure/functions-action"}


def test_actions_are_pinned_to_commits_with_their_version_named() -> None:
    assert WORKFLOWS
    for workflow in WORKFLOWS:
        text = workflow.read_text()
        for use in USES.finditer(text):
            action, ref = use["action"], use["ref"]
            if action.startswith("./") or action in NOT_YET_PINNED:
                continue
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{workflow.name}: {action}@{ref}"
            line = text[use.start():text.index("\n", use.end())]
            assert re.search(r"# v\d+\.\d+\.\d+$", line), f"{workflow.name}: {line.strip()}"


def test_checkouts_keep_no_token_and_scripts_take_inputs_through_the_environment() -> None:
    for workflow in WORKFLOWS:
        text = workflow.read_text()
        checkouts = text.count("uses: actions/checkout@")
        assert text.count("persist-credentials: false") == checkouts, workflow.name
        for line in text.splitlines():
            if "${{ inputs." in line:  # a value of a key, never inside a shell command
                assert re.fullmatch(r"\s*[\w-]+: \$\{\{ inputs\.\w+ \}\}", line), line
