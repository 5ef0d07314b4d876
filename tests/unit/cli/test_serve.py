import base64
import contextlib
import logging
import os
import resource
import socket
import sqlite3
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from shared.cli import app
from shared.cli.serve import connection_limit, seal_quiet_hours_hourly, seconds_to_next_sweep
from shared.settings import Settings


class _Ingestor:
    def __init__(self, stop: threading.Event) -> None:
        self.calls: list[datetime] = []
        self._stop = stop

    def seal_quiet_hours(self, now: datetime) -> int:
        self.calls.append(now)
        if len(self.calls) == 1:
            raise RuntimeError("the store is briefly away")
        self._stop.set()
        return 0


def test_the_local_sweep_runs_until_stopped_and_survives_a_failure() -> None:
    stop = threading.Event()
    ingestor = _Ingestor(stop)
    worker = threading.Thread(
        target=seal_quiet_hours_hourly, args=(ingestor, stop, lambda now: 0.01), daemon=True
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(ingestor.calls) == 2  # the failed run was logged, the next one ran
    assert all(call.tzinfo is not None for call in ingestor.calls)


@pytest.mark.parametrize(
    ("now", "seconds"),
    [("10:16:59", 1.0), ("10:17:00", 3600.0), ("10:30:00", 47 * 60.0), ("23:59:30", 1050.0)],
)
def test_the_local_sweep_runs_at_quarter_past_each_hour_as_in_azure(now: str, seconds: float):
    """On the clock like the Functions timer, so a server restarted within the hour still
    seals a quiet device's hour."""
    at = datetime.fromisoformat(f"2026-11-22T{now}").replace(tzinfo=UTC)
    assert seconds_to_next_sweep(at) == seconds


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_region(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The demo region's starts (their base URLs); no demo runs in these tests."""
    from shared.simulator import demo

    started: list[str] = []
    monkeypatch.setattr(demo, "start_demo_region", lambda base, *_: started.append(base))
    return started


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_region: list[str]):
    """`smartby serve` up to where it would listen: the server's start is recorded (the
    address of the socket it was given, and what could connect to it)."""
    listened: list[dict] = []

    def run(server: uvicorn.Server, sockets: list | None = None) -> None:
        reachable = []
        for sock in sockets or ():  # what the server would accept connections from
            sock.listen()
            for address in ("127.0.0.1", "::1"):
                with contextlib.suppress(OSError):
                    socket.create_connection((address, sock.getsockname()[1]), timeout=5).close()
                    reachable.append(address)
        listened.append({"addresses": [sock.getsockname()[:2] for sock in sockets or ()],
                         "reachable": reachable, "limit": server.config.limit_concurrency - 1})

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setenv("SMARTBY_DATA_DIR", str(tmp_path))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # serve configures logging

    def invoke(*args: str, demo_by_default: bool = False, **env: str) -> tuple[int, str, list]:
        isolated = {"SMARTBY_ADMIN_KEY": None, "SMARTBY_LOG_LEVEL": None, "PORT": None,
                    "COLUMNS": "500", **env}
        if "--demo" not in args and not demo_by_default:
            args = ("--no-demo", *args)
        if "--port" not in args:
            args = (*args, "--port", str(_free_port()))
        result = CliRunner().invoke(app, ["serve", *args], env=isolated)
        return result.exit_code, result.output, listened

    yield invoke
    root.handlers[:] = handlers
    root.setLevel(level)


def test_serve_shows_the_admin_key_only_when_it_made_it(serve, tmp_path: Path) -> None:
    code, output, _ = serve()
    assert code == 0, output
    assert f"Admin key: {(tmp_path / 'admin.key').read_text().strip()}" in output
    code, output, _ = serve(SMARTBY_ADMIN_KEY="an-operators-own-key-0123456789")
    assert code == 0, output
    assert "Admin key: from SMARTBY_ADMIN_KEY" in output
    assert "an-operators-own-key" not in output


def test_the_admin_key_setting_is_read_without_surrounding_whitespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTBY_ADMIN_KEY", " an-operators-own-key\r\n")
    assert Settings().admin_key.get_secret_value() == "an-operators-own-key"
    monkeypatch.setenv("SMARTBY_ADMIN_KEY", " \r\n")
    assert Settings().admin_key is None


def test_serve_puts_an_ipv6_host_in_brackets(serve) -> None:
    port = _free_port("::1")
    code, output, listened = serve("--host", "::1", "--port", str(port))
    assert code == 0, output
    assert f"Portal:    http://[::1]:{port}/" in output
    assert listened[0]["addresses"] == [("::1", port)]


def test_serve_on_every_address_takes_ipv4_and_ipv6_and_shows_a_url_to_open(serve) -> None:
    """`--host ::`: asyncio alone would listen on IPv6 only, out of reach of 127.0.0.1, the
    CLI's own default URL."""
    code, output, listened = serve("--host", "::", "--port", "0")
    assert code == 2, output  # no port 0: the demo and the banner need to know the port
    with socket.socket(socket.AF_INET6) as probe:  # a port free on both families
        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        probe.bind(("::", 0))
        port = probe.getsockname()[1]
    code, output, listened = serve("--host", "::", "--port", str(port))
    assert code == 0, output
    assert f"Portal:    http://[::1]:{port}/" in output
    assert listened[0]["reachable"] == ["127.0.0.1", "::1"]
    port = _free_port()
    code, output, listened = serve("--host", "0.0.0.0", "--port", str(port))  # noqa: S104
    assert code == 0, output
    assert f"Portal:    http://127.0.0.1:{port}/" in output


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("store.sqlite", "file is not a database: a file in the data dir"),
        ("master.key", "master.key must hold a master key"),
    ],
)
def test_a_damaged_data_dir_is_one_line_not_a_traceback(
    serve, tmp_path: Path, damage: str, problem: str
) -> None:
    (tmp_path / damage).write_text("not what Smartby wrote\n")
    code, output, listened = serve()
    assert code == 2, output
    (line,) = output.splitlines()
    assert line.startswith("✗ Cannot start:") and problem in line
    assert not listened


def test_a_master_key_that_does_not_open_the_stored_keys_stops_the_start(
    serve, tmp_path: Path
) -> None:
    """SMARTBY_MASTER_KEY set after a first run: every keyed device would answer 503."""
    assert serve()[0] == 0
    from shared.bootstrap import build_platform

    platform = build_platform(Settings(data_dir=tmp_path, admin_key="a" * 32))
    platform.keys.put("larvik", "device-a84041000181c8d1-appskey", bytes(16))
    platform.close()
    other = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    code, output, listened = serve(SMARTBY_MASTER_KEY=other)
    assert code == 2, output
    assert "the master key does not open the keys in" in output
    assert other not in output
    assert len(listened) == 1  # only the first start


def test_two_first_starts_at_once_make_one_key(tmp_path: Path) -> None:
    """Both processes must end up with the key on disk, or one would keep keys it cannot
    open again."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.bootstrap import local_admin_key
    from shared.keys.local import load_or_create_master_key

    with ThreadPoolExecutor(8) as pool:
        admin = set(pool.map(lambda _: local_admin_key(tmp_path), range(16)))
        master = set(pool.map(lambda _: load_or_create_master_key(tmp_path, None), range(16)))
    assert admin == {(tmp_path / "admin.key").read_text().strip()}
    assert len(master) == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_empty_admin_key_file_is_replaced_not_taken_as_no_key(serve, tmp_path: Path) -> None:
    (tmp_path / "admin.key").write_text(" \n")
    code, output, _ = serve()
    assert code == 0, output
    key = (tmp_path / "admin.key").read_text().strip()
    assert key.startswith("sby-admin-") and f"Admin key: {key}" in output
    assert (tmp_path / "admin.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("SMARTBY_LOG_LEVEL", "verbose", "SMARTBY_LOG_LEVEL: 'verbose' is not a log level"),
        ("SMARTBY_STORE", "mongo", "SMARTBY_STORE: Input should be 'embedded' or 'cosmos'"),
        ("SMARTBY_MASTER_KEY", "short", "SMARTBY_MASTER_KEY must hold a master key: base64url"),
    ],
)
def test_a_configuration_error_is_one_line_not_a_traceback(
    serve, setting: str, value: str, problem: str
) -> None:
    code, output, listened = serve(**{setting: value})
    assert code == 2
    (line,) = output.splitlines()
    assert line.startswith(f"✗ Cannot start: {problem}")
    assert not listened


def _refused(code: int, output: str, listened: list[dict], problem: str) -> None:
    assert code == 2, output
    (line,) = output.splitlines()
    assert line.startswith("✗ Cannot start:") and problem in line, line
    assert not listened


def _planted_master_key(data_dir: Path) -> str:
    """A master key another user chose: with it they could open every AppSKey stored."""
    key = base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")
    (data_dir / "master.key").write_text(key)
    return key


def test_a_data_dir_of_another_user_is_refused(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--data-dir /tmp/smartby`, made first by another local user, with their master key."""
    _planted_master_key(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: tmp_path.stat().st_uid + 1)
    _refused(*serve(), f"the data dir {tmp_path} belongs to another user")
    assert not (tmp_path / "admin.key").exists()
    assert not (tmp_path / "keys.sqlite").exists()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_data_dir_other_users_may_write_to_is_refused(
    serve, tmp_path: Path, mode: int
) -> None:
    """Tightening its mode would not remove what they put there meanwhile."""
    _planted_master_key(tmp_path)
    tmp_path.chmod(mode)
    _refused(*serve(), f"other users may write to the data dir {tmp_path} (mode {mode:04o})")
    assert not (tmp_path / "keys.sqlite").exists()


def test_a_data_dir_others_may_only_read_is_made_private(serve, tmp_path: Path) -> None:
    """One made by hand under the umask (0755): no one else could have put anything there."""
    tmp_path.chmod(0o755)
    code, output, _ = serve()
    assert code == 0, output
    assert tmp_path.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "name", ["admin.key", "master.key", "keys.sqlite", "store.sqlite", "store.sqlite-wal"]
)
def test_a_link_in_the_data_dir_is_not_followed(serve, tmp_path: Path, name: str) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.write_text("chosen by someone else\n")
    (tmp_path / name).symlink_to(elsewhere)
    _refused(*serve(), f"{tmp_path / name} is a symbolic link")
    assert elsewhere.read_text() == "chosen by someone else\n"


@pytest.mark.parametrize(
    "name", ["admin.key", "master.key", "keys.sqlite", "store.sqlite", "keys.sqlite-wal"]
)
def test_a_file_another_user_put_in_the_data_dir_is_refused(
    serve, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only root can give a file away: the file's owner, as `fstat` reports it, is faked."""
    import shared.private_files as private_files

    if name == "master.key":
        _planted_master_key(tmp_path)
    else:
        (tmp_path / name).touch()
    planted = tmp_path / name
    real_fstat = os.fstat

    def fstat(fd: int) -> os.stat_result:
        status = real_fstat(fd)
        if Path(os.readlink(f"/proc/self/fd/{fd}")) != planted:
            return status
        fields = list(status)
        fields[stat.ST_UID] = 65534
        return os.stat_result(fields)

    monkeypatch.setattr(private_files.os, "fstat", fstat)
    _refused(*serve(), f"{planted} belongs to another user (uid 65534)")


COSMOS = {"SMARTBY_STORE": "cosmos", "COSMOS__accountEndpoint": "https://smartby.example:443/"}


@pytest.fixture
def remote_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform and its app, without reaching the cloud adapters' resources."""
    from types import SimpleNamespace

    from shared import api, bootstrap

    monkeypatch.setattr(bootstrap, "build_platform",
                        lambda settings: SimpleNamespace(ingestor=None, close=lambda: None))
    monkeypatch.setattr(api, "create_app", lambda platform: None)


def test_the_demo_region_runs_by_default_on_the_local_adapters(serve, demo_region) -> None:
    code, output, _ = serve(demo_by_default=True)
    assert code == 0, output
    assert "Smartby on embedded store, in-process bus, local key store; data in" in output
    assert "Demo region: simulated sensors in sandefjord and drammen" in output
    assert len(demo_region) == 1


@pytest.mark.parametrize(
    ("env", "adapters"),
    [
        (COSMOS, "Cosmos DB https://smartby.example:443/, in-process bus, local key store; "
                 "data in"),
        ({"SMARTBY_BUS": "eventhub", "EVENTHUB__fullyQualifiedNamespace": "sby.example"},
         "embedded store, Event Hubs sby.example, local key store; data in"),
        ({**COSMOS, "SMARTBY_KEYSTORE": "keyvault", "KEYVAULT__vaultUri": "https://kv.example/"},
         "Cosmos DB https://smartby.example:443/, in-process bus, Key Vault https://kv.example/"),
    ],
)
def test_the_demo_region_is_off_on_other_adapters_which_the_banner_names(
    serve, demo_region, remote_platform, env: dict[str, str], adapters: str
) -> None:
    """It makes tenants, revokes and issues keys and writes made-up devices: not into a real
    Cosmos DB, Event Hub or Key Vault."""
    code, output, _ = serve(demo_by_default=True, **env)
    assert code == 0, output
    assert output.splitlines()[0].startswith(f"Smartby on {adapters}")
    assert "Demo region: off" in output
    assert not demo_region
    code, output, listened = serve("--demo", **env)
    _refused(code, output, listened[1:], "--demo runs only on the embedded default")
    assert not demo_region


def test_the_banners_first_line_is_one_line_in_a_narrow_log(serve, tmp_path) -> None:
    """A CI log or journal is no terminal: rich would wrap at its width."""
    code, output, _ = serve(COLUMNS="40")
    assert code == 0, output
    assert output.splitlines()[0].endswith(f"; data in {tmp_path}")


@pytest.mark.parametrize(
    ("files", "limit"),
    [(1024, 480), (20000, 1000), (100, 18), (64, 1), (resource.RLIM_INFINITY, 1000)],
)
def test_connections_at_once_stay_within_the_files_the_process_may_open(
    serve, monkeypatch, files: int, limit: int
) -> None:

    monkeypatch.setattr(resource, "getrlimit", lambda which: (files, files))
    assert connection_limit() == limit
    code, output, listened = serve()
    assert code == 0, output
    assert listened[-1]["limit"] == limit


def _database_error(tmp_path: Path, problem: str) -> sqlite3.DatabaseError:
    """The error SQLite itself raises for a locked or a full database."""
    path = tmp_path / f"{problem}.sqlite"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE t (x)")
        if problem == "locked":
            holder.execute("BEGIN EXCLUSIVE")
            other = sqlite3.connect(path, timeout=0)
            with pytest.raises(sqlite3.DatabaseError) as raised:
                other.execute("SELECT * FROM t")
            other.close()
        else:
            holder.execute("PRAGMA max_page_count = 2")
            with pytest.raises(sqlite3.DatabaseError) as raised:
                holder.execute("INSERT INTO t VALUES (zeroblob(100000))")
    return raised.value


@pytest.mark.parametrize(
    ("problem", "line"),
    [
        ("locked", "database is locked: another process holds a lock on a database in the data"),
        ("full", "database or disk is full (store.sqlite or keys.sqlite in the data dir)"),
    ],
)
def test_a_locked_or_full_database_is_named_for_what_it_is(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str, line: str
) -> None:
    """Not "a file in the data dir is not Smartby's": it is, and it is intact."""
    from shared import bootstrap

    error = _database_error(tmp_path, problem)

    def build_platform(settings: Settings) -> None:
        raise error

    monkeypatch.setattr(bootstrap, "build_platform", build_platform)
    code, output, listened = serve()
    _refused(code, output, listened, line)
    assert "not Smartby's" not in output


@pytest.mark.parametrize("host", ["", " ", "\t"])
def test_a_blank_host_is_refused_not_every_address(serve, host: str) -> None:
    _refused(*serve("--host", host), "--host is blank")


def test_a_port_in_use_is_one_line_before_the_banner(serve) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output, listened = serve("--port", str(port))
    _refused(code, output, listened, f"port {port} on 127.0.0.1 is in use")
    assert "Admin key" not in output


def test_an_address_that_cannot_be_bound_is_one_line(serve) -> None:
    port = _free_port()
    code, output, listened = serve("--host", "192.0.2.1", "--port", str(port))  # TEST-NET-1
    _refused(code, output, listened, f"cannot listen on 192.0.2.1 port {port}: Cannot assign")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_connections_are_accepted_with_nagle_off(host: str) -> None:
    """asyncio sets TCP_NODELAY on the connections of a socket made for IPPROTO_TCP only: on
    others, an answer's body waits for the client's delayed ACK (~40 ms a request)."""
    from shared.cli.serve import bind

    sockets = bind(host, 0)
    try:
        assert [sock.proto for sock in sockets] == [socket.IPPROTO_TCP] * len(sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_a_second_serve_starting_at_once_is_refused_at_bind() -> None:
    """Two sockets may bind one port with SO_REUSEADDR until one listens: `bind` listens."""
    from shared.cli.serve import bind

    port = _free_port()
    [first] = bind("127.0.0.1", port)
    with first, pytest.raises(OSError, match=f"port {port} on 127.0.0.1 is in use"):
        bind("127.0.0.1", port)


def test_a_name_with_two_addresses_listens_on_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """`localhost` is ::1 first on Debian: listening on that alone, the CLI's default URL
    (127.0.0.1) would not reach the server."""
    from shared.cli.serve import bind

    port = _free_port()
    real = socket.getaddrinfo

    def localhost(host, *args, **kwargs):
        if host != "localhost":
            return real(host, *args, **kwargs)
        return real("::1", *args, **kwargs) + real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", localhost)
    sockets = bind("localhost", port)
    try:
        assert sorted(s.getsockname()[0] for s in sockets) == ["127.0.0.1", "::1"]
        for address in ("127.0.0.1", "::1"):
            socket.create_connection((address, port), timeout=5).close()
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("host", ["::0", "0:0:0:0:0:0:0:0"])
def test_every_spelling_of_the_unspecified_address_takes_ipv4_too(host: str) -> None:
    from shared.cli.serve import bind

    port = _free_port()
    [sock] = bind(host, port)
    with sock:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_an_address_of_a_name_this_machine_cannot_use_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`localhost` still names ::1 where IPv6 is turned off: 127.0.0.1 will do."""
    import errno

    from shared.cli import serve as serve_module

    port = _free_port()
    real = serve_module._listening

    def no_ipv6(family, address, with_ipv4):
        if family == socket.AF_INET6:
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        return real(family, address, with_ipv4)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(serve_module, "_listening", no_ipv6)
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: (
        real_getaddrinfo("::1", *a, **k) + real_getaddrinfo("127.0.0.1", *a, **k)
        if host == "localhost" else real_getaddrinfo(host, *a, **k)))
    [sock] = serve_module.bind("localhost", port)
    with sock:
        assert sock.getsockname()[0] == "127.0.0.1"
