"""API keys as the commands take them, from an option or the environment."""

from __future__ import annotations

import typer


def parse_key(value: str) -> str:
    """The key without surrounding whitespace (a pasted key, `$(cat key)` of a CRLF file).

    A key with characters no HTTP header can carry is refused here, without repeating it:
    httpx would refuse the header with an error message that holds the whole key.
    """
    key = value.strip()
    if not (key.isascii() and key.isprintable()):
        raise typer.BadParameter(
            "the key has a control character or a non-ASCII one (the key is not shown)"
        )
    return key
