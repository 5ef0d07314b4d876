"""What the commands share about calling the API: keys as they take them (from an option or
the environment), the checks every command makes before its first request, and failures to
reach the API as they show them."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from shared.store.tenancy import TENANT_ID_MAX, is_tenant_id

#: What a tenant id is, in the words every command uses to refuse one.
TENANT_ID_RULE = (
    f"a slug of 2-{TENANT_ID_MAX} characters: a lowercase letter, then lowercase letters, "
    "digits and single inner hyphens (e.g. sandefjord)"
)


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


def refuse(message: str) -> NoReturn:
    """Stop the command before it changes anything: one line on stderr, exit code 2.

    No markup: a tenant or a file name is shown as it was typed.
    """
    Console(stderr=True, highlight=False, markup=False, soft_wrap=True).print(f"✗ {message}")
    raise typer.Exit(2)


def require_key(key: object, option: str, api_url: str) -> None:
    """Refuse to go on without a key (an empty one included) for the API at `api_url`."""
    if not key:
        refuse(f"no key for the API at {api_url}: pass {option} or set SMARTBY_ADMIN_KEY")


def require_tenant_id(tenant: str) -> None:
    if not is_tenant_id(tenant):
        refuse(f"--tenant {tenant!r} must be {TENANT_ID_RULE}")


def unreachable(api_url: str, error: Exception) -> str:
    """The API could not be reached: its URL and the kind of failure only. The error's own
    message can hold the request's headers, the key among them."""
    return f"cannot reach the API at {api_url} ({type(error).__name__})"
