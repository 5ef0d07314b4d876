"""`smartby`: the command line for operators and developers."""

from __future__ import annotations

import typer

from shared.cli import devices, serve

app = typer.Typer(
    name="smartby",
    help="Smartby: the regional IoT and citizen-notification platform.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Smartby: the regional IoT and citizen-notification platform."""


serve.register(app)
devices.register(app)


def main() -> None:
    app()
