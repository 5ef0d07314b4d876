"""`smartby serve`: the whole platform on one machine, on the embedded default."""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from shared import logs
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.telemetry.ingest import Ingestor

log = logging.getLogger(__name__)


def seal_quiet_hours_hourly(
    ingestor: Ingestor, stop: threading.Event, every_s: float = 3600.0
) -> None:
    """The local runtime's `seal_quiet_hours` timer function: the sweep, hourly until `stop`."""
    while not stop.wait(every_s):
        try:
            ingestor.seal_quiet_hours(datetime.now(UTC))
        except Exception:
            log.exception("sealing the open hours of quiet devices failed; next try in an hour")


def _configuration_problem(error: Exception) -> str:
    """One line naming the setting; never a setting's value, which may be a key."""
    if isinstance(error, ValidationError):
        return "; ".join(
            ": ".join([*map(str, problem["loc"]), problem["msg"].removeprefix("Value error, ")])
            for problem in error.errors(include_input=False, include_url=False)
        )
    return str(error)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        port: Annotated[int, typer.Option(envvar="PORT", help="Port to listen on.")] = 7071,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        data_dir: Annotated[
            Path | None,
            typer.Option(help="Where data is kept (default: SMARTBY_DATA_DIR or .smartby)."),
        ] = None,
        demo: Annotated[
            bool,
            typer.Option(help="Run the demo region: simulated sensors in two municipalities."),
        ] = True,
    ) -> None:
        """Run the API, the portal and the stages locally; Ctrl-C stops, data is kept."""
        import uvicorn

        from shared.api import create_app
        from shared.bootstrap import build_platform, local_admin_key

        if data_dir is not None:
            os.environ["SMARTBY_DATA_DIR"] = str(data_dir)
        try:
            settings = Settings()
            key_is_local = settings.admin_key is None
            if key_is_local:
                settings = Settings(admin_key=local_admin_key(settings.data_dir))
            logs.configure(settings.log_format, settings.log_level)
            platform = build_platform(settings)
        except (ValueError, OSError) as error:  # a setting or the data dir: one line will do
            Console(stderr=True, highlight=False, markup=False, soft_wrap=True).print(
                f"✗ Cannot start: {_configuration_problem(error)}"
            )
            raise typer.Exit(2) from None
        admin_key = settings.admin_key.get_secret_value() if settings.admin_key else ""
        console = Console(highlight=False)
        base = f"http://{f'[{host}]' if ':' in host else host}:{port}"  # IPv6 in brackets
        data = escape(str(settings.data_dir))
        console.print(f"[bold]Smartby[/bold] on the embedded default, data in {data}")
        console.print(f"  Portal:    {escape(base)}/")
        console.print(f"  API docs:  {escape(base)}/api/docs")
        # A key of the user's own is not shown: it may be on a shared screen or in a CI log.
        console.print(f"  Admin key: {admin_key if key_is_local else 'from SMARTBY_ADMIN_KEY'}")
        console.print("  Ctrl-C stops; data is kept for the next start.", style="dim")
        stop = threading.Event()
        if demo:
            from shared.simulator.demo import start_demo_region

            console.print("  Demo region: simulated sensors in sandefjord and drammen "
                          "(--no-demo: off)", style="dim")
            start_demo_region(base, admin_key, stop)
        threading.Thread(
            target=seal_quiet_hours_hourly,
            args=(platform.ingestor, stop),
            name="seal-quiet-hours",
            daemon=True,
        ).start()
        try:
            uvicorn.run(
                create_app(platform), host=host, port=port, log_config=None, access_log=False
            )
        finally:
            stop.set()
            platform.close()
