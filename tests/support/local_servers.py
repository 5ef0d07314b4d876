"""Start and stop the real local servers that adapter tests run against (see TESTING.md).

Servers are Node programs under `tests/servers/` (installed by `make setup`, which runs
`npm ci --prefix tests/servers`). Each launcher prints `LISTENING <port>` once it accepts
connections and exits when its stdin closes, so a server never outlives the test run even if
pytest is killed. A server that cannot start is an error, never a skip: a silently skipped adapter
suite is how a broken production adapter reaches Azure.
"""

from __future__ import annotations

import http.client
import queue
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SERVERS_DIR = Path(__file__).resolve().parents[1] / "servers"
START_TIMEOUT = 30.0
STOP_GRACE = 5.0
SETUP_HINT = "run `make setup` (it runs `npm ci --prefix tests/servers`)"

#: Any base64 string: the test server does not check request signatures, the SDK needs one.
COSMOS_TEST_KEY = "c21hcnRieS1sb2NhbC10ZXN0LWtleS1ub3QtYS1zZWNyZXQ="


class ServerStartError(RuntimeError):
    """A local server did not come up; the message says why and how to fix it."""


@dataclass(frozen=True, slots=True)
class CosmosEndpoint:
    """Where the local Cosmos DB server listens. Its TLS certificate is self-signed (and
    expired), so clients must not verify it: `connection_verify=False` / `verify_tls=False`."""

    url: str
    key: str = COSMOS_TEST_KEY


@dataclass(frozen=True, slots=True)
class RunningServer:
    port: int
    process: subprocess.Popen[str]


def _stderr_tail(stderr: IO[str], limit: int = 4000) -> str:
    stderr.flush()
    stderr.seek(0)
    text = stderr.read()
    return text[-limit:].strip() or "(nothing on stderr)"


def _wait_for_port(process: subprocess.Popen[str], deadline: float) -> int:
    """The port from the launcher's `LISTENING <port>` line, read without blocking past
    `deadline` (a reader thread, because a pipe read has no timeout)."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise ServerStartError("no LISTENING line within the start timeout") from None
    if not line:
        try:
            code: int | None = process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            code = None
        raise ServerStartError(f"closed its stdout before LISTENING (exit code {code})")
    if not line.startswith("LISTENING "):
        raise ServerStartError(f"printed {line!r} instead of LISTENING")
    return int(line.split()[1])


def _wait_for_https(port: int, deadline: float) -> None:
    """Until one HTTPS request is answered: the listening socket alone does not prove that TLS
    and the request handler work."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # loopback test server with a self-signed certificate
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=context)
        try:
            connection.request("GET", "/")
            connection.getresponse().read()
            return
        except OSError as exc:
            last_error = exc
            time.sleep(0.1)
        finally:
            connection.close()
    raise ServerStartError(f"no HTTPS answer on port {port}: {last_error}")


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate, then kill after STOP_GRACE seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


@contextmanager
def node_server(script: str, package: str) -> Iterator[RunningServer]:
    """Run `node tests/servers/<script> 0` (any free port) until the block ends.

    `package` is the npm package the launcher needs; its absence gets a setup hint rather than
    a Node stack trace.
    """
    node = shutil.which("node")
    if node is None:
        raise ServerStartError(f"Node.js 20+ is not on PATH; install it, then {SETUP_HINT}")
    if not (SERVERS_DIR / "node_modules" / package).is_dir():
        raise ServerStartError(f"{package} is not installed in {SERVERS_DIR}; {SETUP_HINT}")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [node, str(SERVERS_DIR / script), "0"],
            cwd=SERVERS_DIR,
            stdin=subprocess.PIPE,  # closed by _stop or by our death: the launcher then exits
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            try:
                port = _wait_for_port(process, deadline)
                _wait_for_https(port, deadline)
            except ServerStartError as exc:
                raise ServerStartError(
                    f"{script} did not start ({exc}); stderr:\n{_stderr_tail(stderr)}\n"
                    f"If a package is missing, {SETUP_HINT}."
                ) from None
            yield RunningServer(port, process)
        finally:
            _stop(process)


@contextmanager
def cosmos_server() -> Iterator[CosmosEndpoint]:
    """The Cosmos DB (NoSQL API) test server (`@vercel/cosmosdb-server`), empty and in memory."""
    with node_server("cosmos.js", "@vercel/cosmosdb-server") as server:
        yield CosmosEndpoint(f"https://127.0.0.1:{server.port}")
