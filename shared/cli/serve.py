"""`smartby serve`: the whole platform on one machine, on the embedded default."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from shared import logs
from shared.settings import Settings
from shared.store import StoreError

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
    if isinstance(error, sqlite3.DatabaseError):
        return f"{error}: a file in the data dir (store.sqlite, keys.sqlite) is not Smartby's"
    return str(error)


def local_url(host: str, port: int) -> str:
    """The URL to open for a bound address: a wildcard address is not one a browser can open,
    so its loopback; an IPv6 address in brackets."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - not a bind
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def listen(app: Any, host: str, port: int) -> None:
    """Serve `app` until Ctrl-C. `::` takes IPv4 connections too: asyncio would bind it to
    IPv6 only, and the CLI's own default URL (127.0.0.1) could not reach it."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    )
    # uvicorn re-raises Ctrl-C once it has shut down; `uvicorn.run` would swallow it, as here.
    with contextlib.suppress(KeyboardInterrupt):
        if host != "::":
            server.run()
            return
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
        with sock:
            server.run(sockets=[sock])


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        port: Annotated[
            int, typer.Option(envvar="PORT", min=1, max=65535, help="Port to listen on.")
        ] = 7071,
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
        except (ValueError, OSError, StoreError, sqlite3.DatabaseError) as error:
            # a setting, or the data dir (unreadable, or not Smartby's): one line will do
            Console(stderr=True, highlight=False, markup=False, soft_wrap=True).print(
                f"✗ Cannot start: {_configuration_problem(error)}"
            )
            raise typer.Exit(2) from None
        admin_key = settings.admin_key.get_secret_value() if settings.admin_key else ""
        console = Console(highlight=False)
        base = local_url(host, port)
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
            listen(create_app(platform), host, port)
        finally:
            stop.set()
            platform.close()
