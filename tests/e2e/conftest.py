"""The local platform started the way a user starts it: `smartby serve` in its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ADMIN_KEY = "e2e-admin-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    url: str
    data_dir: Path
    process: subprocess.Popen
    output: Path

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)


def serve(data_dir: Path, port: int | None = None, demo: bool = False, **env: str) -> Served:
    port = port or _free_port()
    output = data_dir.parent / f"serve-{port}.log"
    smartby = Path(sys.executable).with_name("smartby")
    process = subprocess.Popen(
        [str(smartby), "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--demo" if demo else "--no-demo"],
        stdout=output.open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, "SMARTBY_ADMIN_KEY": ADMIN_KEY, **env},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"smartby serve exited: {output.read_text()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return Served(url, data_dir, process, output)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"smartby serve did not answer in 30 s: {output.read_text()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = serve(tmp_path / "data")
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: `make setup` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    return {
        "executable_path": CHROMIUM,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic",
                 "--no-first-run"],
    }


@pytest.fixture
def api(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        yield client
