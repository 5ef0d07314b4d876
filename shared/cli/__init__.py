"""`smartby`: the command line for operators and developers."""

from __future__ import annotations

import typer

from shared.cli import devices, onboard, serve, simulate

app = typer.Typer(
    name="smartby",
    help="Smartby: the regional IoT and citizen-notification platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback must never print a key held in a local
)


@app.callback()
def _root() -> None:
    """Smartby: the regional IoT and citizen-notification platform."""


serve.register(app)
devices.register(app)
onboard.register(app)
simulate.register(app)


def main() -> None:
    app()
