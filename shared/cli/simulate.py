"""`smartby simulate`: a fleet of simulated sensors posting real-format uplinks to an API."""

from __future__ import annotations

import threading
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from shared.cli.api import parse_key, refuse, require_key, require_tenant_id, unreachable
from shared.simulator.fleet import (
    REQUEST_TIMEOUT,
    IngestKeyRefused,
    ProvisioningError,
    Simulator,
    Stats,
    ensure_tenant,
    issue_ingest_key,
    make_fleet,
    revoke_keys_named,
    utc_now,
)

# Kommunenummer (2024) of the region's municipalities, for creating a missing tenant.
KOMMUNENUMMER = {
    "horten": "3901",
    "holmestrand": "3903",
    "tonsberg": "3905",
    "sandefjord": "3907",
    "larvik": "3909",
    "faerder": "3911",
    "drammen": "3301",
    "lier": "3312",
    "ovre-eiker": "3314",
}
_REFRESH_S = 0.25
MAX_DURATION_S = 366 * 24 * 3600.0  # a year, and well within what a datetime can add
KEY_NAME = "simulator"


def _client(api_url: str) -> httpx.Client:
    return httpx.Client(base_url=api_url, timeout=REQUEST_TIMEOUT)


def _status(stats: Stats, elapsed: float) -> Text:
    rate = stats.sent / elapsed if elapsed > 0 else 0.0
    line = Text()
    line.append(f"sent {stats.sent}  ")
    line.append(f"accepted {stats.accepted}  ", style="green")
    rejected = sum(stats.rejected_by_status().values())
    line.append(f"rejected {rejected}  ", style="red" if rejected else "")
    line.append(f"errors {stats.errors}  ", style="yellow" if stats.errors else "")
    line.append(f"{rate:.2f}/s", style="dim")
    return line


def _reason(error: Exception) -> str:
    """Why the simulator stopped: a refused key as it says, anything else with its type."""
    if isinstance(error, IngestKeyRefused):
        return str(error)
    return f"{type(error).__name__}: {error}"


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        tenant: Annotated[str, typer.Option(help="Tenant (kommune) id, e.g. sandefjord.")],
        devices: Annotated[int, typer.Option(min=1, max=10_000, help="Simulated sensors.")] = 6,
        rate: Annotated[
            float, typer.Option(min=0.001, help="Uplinks per second across the fleet.")
        ] = 1.0,
        api_url: Annotated[
            str, typer.Option(envvar="SMARTBY_API_URL", help="Base URL of the Smartby API.")
        ] = "http://127.0.0.1:7071",
        admin_key: Annotated[
            str | None,
            typer.Option(
                envvar="SMARTBY_ADMIN_KEY",
                parser=parse_key,
                show_default=False,
                help="Platform admin key: creates the tenant, an ingest key and the devices.",
            ),
        ] = None,
        duration: Annotated[
            float | None,
            typer.Option(
                min=0.0, max=MAX_DURATION_S, help="Seconds to run (default: until Ctrl-C)."
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Fleet seed: same seed, same devices.")] = 1,
        kommunenummer: Annotated[
            str | None, typer.Option(help="Kommunenummer, if the tenant must be created.")
        ] = None,
    ) -> None:
        """Post realistic sensor uplinks (TTN, ChirpStack, IP) for one tenant.

        Each run replaces the ingest key the previous run issued (keys named "simulator"). A
        refused ingest key stops the run; any uplink rejected or not delivered makes it exit 1.
        """
        console = Console(highlight=False, soft_wrap=True)
        require_key(admin_key, "--admin-key", api_url)
        require_tenant_id(tenant)
        if rate > devices:
            refuse(
                f"{devices} device(s) send at most {devices} uplinks/s "
                "(each at most once a second): raise --devices or lower --rate"
            )
        fleet = make_fleet(tenant, devices, seed)
        stop = threading.Event()
        with _client(api_url) as client:
            try:
                number = kommunenummer or KOMMUNENUMMER.get(tenant)
                if number is None:
                    console.print(f"[dim]Tenant {tenant} must exist (or pass --kommunenummer).")
                elif ensure_tenant(client, admin_key, tenant, tenant.title(), number):
                    console.print(f"Created tenant {tenant}.")
                revoke_keys_named(client, admin_key, tenant, KEY_NAME)
                ingest_key = issue_ingest_key(client, admin_key, tenant, KEY_NAME)
            except ProvisioningError as error:
                console.print(f"[red]Cannot set up {tenant}:[/red] {escape(str(error))}")
                raise typer.Exit(1) from None
            except httpx.HTTPError as error:
                console.print(f"[red]Cannot set up {tenant}:[/red] "
                              f"{escape(unreachable(api_url, error))}")
                raise typer.Exit(1) from None
            simulator = Simulator(client, tenant, fleet, ingest_key)
            registration = simulator.register(fleet, admin_key)
            console.print(
                f"Registered {len(registration.registered)} of {len(fleet)} devices "
                f"in {tenant} at {escape(api_url)}."
            )
            for dev_eui, reason in registration.failed.items():
                console.print(f"  [yellow]{dev_eui}[/yellow] not registered: {escape(reason)}")

            failures: list[Exception] = []

            def run() -> None:
                try:
                    simulator.run(rate, duration, stop)
                except Exception as error:  # the main thread reports it and sets the exit code
                    failures.append(error)

            worker = threading.Thread(target=run, name="simulate", daemon=True)
            started = utc_now()
            worker.start()
            try:
                with Live(console=console, refresh_per_second=4, transient=True) as live:
                    while worker.is_alive():
                        elapsed = (utc_now() - started).total_seconds()
                        live.update(_status(simulator.stats, elapsed))
                        worker.join(_REFRESH_S)
            except KeyboardInterrupt:
                stop.set()
                worker.join(REQUEST_TIMEOUT + 1)
        stats = simulator.stats
        console.print(f"Done: {stats.summary()}.")
        if failures:
            console.print(f"[red]✗ The simulator stopped:[/red] {escape(_reason(failures[0]))}")
            raise typer.Exit(1)
        if lost := stats.sent - stats.accepted:
            console.print(f"[red]✗[/red] {lost} of {stats.sent} uplinks rejected or not delivered")
            raise typer.Exit(1)
