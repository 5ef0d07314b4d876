"""What the commands share about calling the API: keys as they take them (from an option or
the environment), and failures to reach it as they show them."""

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


def unreachable(api_url: str, error: Exception) -> str:
    """The API could not be reached: its URL and the kind of failure only. The error's own
    message can hold the request's headers, the key among them."""
    return f"cannot reach the API at {api_url} ({type(error).__name__})"
