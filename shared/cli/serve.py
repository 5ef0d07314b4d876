"""`smartby serve`: the whole platform on one machine, on the embedded default or on the
adapters the settings choose."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import resource
import socket
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from shared import logs
from shared.cli.api import refuse
from shared.settings import BusKind, KeyStoreKind, Settings, StoreKind
from shared.store import StoreError

if TYPE_CHECKING:
    from shared.telemetry.ingest import Ingestor

log = logging.getLogger(__name__)


def seconds_to_next_sweep(now: datetime) -> float:
    """Until the next hh:17:00 UTC, when the Functions timer (`functions/series.py`) runs the
    sweep: on the clock, not an hour after start, so restarts never put it off."""
    run = now.replace(minute=17, second=0, microsecond=0)
    if run <= now:
        run += timedelta(hours=1)
    return (run - now).total_seconds()


def seal_quiet_hours_hourly(
    ingestor: Ingestor,
    stop: threading.Event,
    wait_s: Callable[[datetime], float] = seconds_to_next_sweep,
) -> None:
    """The local runtime's `seal_quiet_hours` timer function: the sweep, hourly until `stop`."""
    while not stop.wait(wait_s(datetime.now(UTC))):
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
        return _database_problem(error)
    return str(error)


def _database_problem(error: sqlite3.DatabaseError) -> str:
    """Only a file SQLite cannot read at all is someone else's: a locked, full or failing
    database is Smartby's own, and is named for what it is."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    if code == sqlite3.SQLITE_NOTADB:
        return f"{error}: a file in the data dir (store.sqlite, keys.sqlite) is not Smartby's"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return f"{error}: another process holds a lock on a database in the data dir"
    return f"{error} (store.sqlite or keys.sqlite in the data dir)"


def _cannot_start(problem: str) -> NoReturn:
    refuse(f"Cannot start: {problem}")


def runs_locally(settings: Settings) -> bool:
    return (settings.store, settings.bus, settings.keystore) == (
        StoreKind.EMBEDDED, BusKind.INPROCESS, KeyStoreKind.LOCAL
    )


def adapters_in_use(settings: Settings) -> str:
    """The adapters `serve` runs on, with the Azure resources they reach."""
    return ", ".join([
        "embedded store" if settings.store is StoreKind.EMBEDDED
        else f"Cosmos DB {settings.cosmos_endpoint}",
        "in-process bus" if settings.bus is BusKind.INPROCESS
        else f"Event Hubs {settings.eventhub_namespace}",
        "local key store" if settings.keystore is KeyStoreKind.LOCAL
        else f"Key Vault {settings.keyvault_uri or settings.tenant_vault_uri_template}",
    ])


def demo_wanted(asked: bool | None, settings: Settings) -> bool:
    """The demo region makes tenants, revokes and issues keys and writes made-up devices and
    readings: on by default on the local adapters only, and refused on any other, where it
    would do so in a real Cosmos DB, Event Hub or Key Vault."""
    if asked and not runs_locally(settings):
        raise ValueError(
            "--demo runs only on the embedded default (SMARTBY_STORE=embedded, "
            "SMARTBY_BUS=inprocess, SMARTBY_KEYSTORE=local); on these adapters it would "
            "write made-up tenants, devices and keys into real data"
        )
    return runs_locally(settings) if asked is None else asked


def local_url(host: str, port: int) -> str:
    """The URL to open for a bound address: a wildcard address is not one a browser can open,
    so its loopback; an IPv6 address in brackets."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - not a bind
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def bind(host: str, port: int) -> list[socket.socket]:
    """The sockets to serve on, listening before anything is printed: a port in use (even by a
    second `serve` starting at the same moment) is one line, not a banner and an admin key
    followed by uvicorn's error. A name with several addresses (`localhost`: ::1 and
    127.0.0.1) listens on each, as uvicorn would. `::` takes IPv4 connections too: asyncio
    would bind it to IPv6 only, and the CLI's own default URL (127.0.0.1) could not reach it."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        raise OSError(f"cannot listen on {host}: {error.strerror or error}") from None
    addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in found))
    with_ipv4 = any(family == socket.AF_INET for family, _ in addresses)
    sockets: list[socket.socket] = []
    problem: OSError | None = None
    for family, address in addresses:
        try:
            sockets.append(_listening(family, address, with_ipv4))
        except OSError as error:
            if error.errno not in _UNUSABLE_ADDRESS:  # e.g. in use: the start stops
                for sock in sockets:
                    sock.close()
                problem = error
                break
            problem = problem or error  # e.g. ::1 where IPv6 is off: the others will do
    if sockets:
        return sockets
    if problem is not None and problem.errno == errno.EADDRINUSE:
        raise OSError(f"port {port} on {host} is in use") from None
    why = (problem.strerror or problem) if problem else "the name has no address"
    raise OSError(f"cannot listen on {host} port {port}: {why}") from None


#: A name's address this machine cannot listen on (IPv6 turned off, but ::1 in /etc/hosts).
_UNUSABLE_ADDRESS = frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


def _listening(family: int, address: Any, with_ipv4: bool) -> socket.socket:
    """A socket listening on `address`. An IPv6 one takes IPv4 too when it is the unspecified
    (`::`, `::0`) or an IPv4-mapped address, or when the name has no IPv4 address of its own;
    else (`localhost`'s ::1 beside 127.0.0.1) it is IPv6 only, and the IPv4 one has its own."""
    # IPPROTO_TCP named, as getaddrinfo names it: asyncio turns Nagle off (TCP_NODELAY) only on
    # such sockets, and without it each answer on a kept-alive connection waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            ip = ipaddress.ip_address(address[0].split("%")[0])
            v6_only = with_ipv4 and not (ip.is_unspecified or ip.ipv4_mapped)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6_only))
        sock.bind(address)
        sock.listen(2048)  # uvicorn's backlog: only a listening socket holds the port
    except OSError:
        sock.close()
        raise
    return sock


def connection_limit() -> int:
    """Connections served at once (beyond, a connection is answered 503 and closed): at most
    1,000, and at most half the file descriptors this process may open beyond the 64 kept for
    its databases and logs (at least one)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1000
    return max(1, min(1000, (soft - 64) // 2))


def listen(app: Any, sockets: list[socket.socket]) -> None:
    """Serve `app` on `sockets` until Ctrl-C, each request head within a deadline."""
    import uvicorn

    from shared.cli.head_deadline import HeadDeadlineH11Protocol, limit_concurrency

    server = uvicorn.Server(uvicorn.Config(
        app, http=HeadDeadlineH11Protocol, log_config=None, access_log=False,
        limit_concurrency=limit_concurrency(connection_limit()),
    ))
    # uvicorn re-raises Ctrl-C once it has shut down; `uvicorn.run` would swallow it, as here.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)


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
            bool | None,
            typer.Option(
                help="Run the demo region: simulated sensors in two municipalities "
                "(default: on with the local adapters only).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Run the API, the portal and the stages locally; Ctrl-C stops, data is kept."""
        from shared.api import create_app
        from shared.bootstrap import build_platform, local_admin_key

        if not host.strip():
            _cannot_start("--host is blank: give the address to listen on (e.g. 127.0.0.1, or "
                          ":: for every address)")
        if data_dir is not None:
            os.environ["SMARTBY_DATA_DIR"] = str(data_dir)
        with contextlib.ExitStack() as running:
            try:
                settings = Settings()
                key_is_local = settings.admin_key is None
                if key_is_local:
                    settings = Settings(admin_key=local_admin_key(settings.data_dir))
                demo = demo_wanted(demo, settings)
                logs.configure(settings.log_format, settings.log_level)
                sockets = [running.enter_context(sock) for sock in bind(host, port)]
                platform = build_platform(settings)
            except (ValueError, OSError, StoreError, sqlite3.DatabaseError) as error:
                # a setting, the address, or the data dir (unreadable, or not Smartby's)
                _cannot_start(_configuration_problem(error))
            running.callback(platform.close)
            stop = threading.Event()
            running.callback(stop.set)
            admin_key = settings.admin_key.get_secret_value() if settings.admin_key else ""
            base = local_url(host, port)
            _print_banner(settings, base, admin_key if key_is_local else None, demo)
            if demo:
                from shared.simulator.demo import start_demo_region

                start_demo_region(base, admin_key, stop)
            threading.Thread(
                target=seal_quiet_hours_hourly,
                args=(platform.ingestor, stop),
                name="seal-quiet-hours",
                daemon=True,
            ).start()
            listen(create_app(platform), sockets)


def _print_banner(settings: Settings, base: str, shown_key: str | None, demo: bool) -> None:
    """Where things are. A key of the user's own is not shown: it may be on a shared screen or
    in a CI log."""
    console = Console(highlight=False, soft_wrap=True)
    where = adapters_in_use(settings)
    if settings.store is StoreKind.EMBEDDED or settings.keystore is KeyStoreKind.LOCAL:
        where += f"; data in {settings.data_dir}"
    console.print(f"[bold]Smartby[/bold] on {escape(where)}")
    console.print(f"  Portal:    {escape(base)}/")
    console.print(f"  API docs:  {escape(base)}/api/docs")
    console.print(f"  Admin key: {shown_key or 'from SMARTBY_ADMIN_KEY'}")
    console.print("  Ctrl-C stops; data is kept for the next start.", style="dim")
    if demo:
        console.print("  Demo region: simulated sensors in sandefjord and drammen "
                      "(--no-demo: off)", style="dim")
    elif not runs_locally(settings):
        console.print("  Demo region: off (it writes made-up tenants, devices and keys: it "
                      "runs on the embedded default only)", style="dim")
