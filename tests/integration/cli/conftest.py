"""APIs the commands reach over real HTTP, as they do in use: the app, and one that hangs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from shared.api import create_app
from shared.bootstrap import Platform


@pytest.fixture
def api_url(platform: Platform) -> Iterator[str]:
    """The API app (on the `platform` the `client` fixture serves) on a free local port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(platform), log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    listener.close()


@pytest.fixture
def hung_api_url() -> Iterator[str]:
    """An API that takes connections and never answers (hung, or behind a black hole)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the connections; nobody reads them
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
