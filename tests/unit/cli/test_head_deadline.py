"""`smartby serve` closes a connection that does not send a whole request head in time: an
idle or half-sent connection would otherwise hold a file descriptor for good."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from shared.cli import head_deadline
from shared.cli.serve import bind


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


BIG = 16 * 1024 * 1024


async def _big(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(BIG).encode())]})
    await send({"type": "http.response.body", "body": bytes(BIG)})


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    yield from _serving(_ok, monkeypatch)


@pytest.fixture
def big_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    yield from _serving(_big, monkeypatch)


@pytest.fixture
def port_for_two(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    yield from _serving(_ok, monkeypatch, limit=2)


def _serving(app, monkeypatch: pytest.MonkeyPatch, limit: int | None = None) -> Iterator[int]:
    monkeypatch.setattr(head_deadline, "REQUEST_HEAD_TIMEOUT_S", 0.3)
    monkeypatch.setattr(head_deadline, "RESPONSE_SEND_TIMEOUT_S", 0.3)
    sockets = bind("127.0.0.1", 0)
    concurrency = None if limit is None else head_deadline.limit_concurrency(limit)
    server = uvicorn.Server(uvicorn.Config(
        app, http=head_deadline.HeadDeadlineH11Protocol, log_config=None, access_log=False,
        lifespan="off", limit_concurrency=concurrency,
    ))
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


def _closed_by_server(client: socket.socket) -> bool:
    client.settimeout(5)
    try:
        return client.recv(1024) == b""  # the server closed it (no answer to a half head)
    except TimeoutError:
        return False


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n"])
def test_a_connection_without_a_whole_head_is_closed(port: int, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(sent)
        assert _closed_by_server(client)


def test_a_whole_request_is_answered_and_the_next_head_has_its_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        client.settimeout(5)
        answer = b""
        while not answer.endswith(b"ok"):
            answer += client.recv(1024)
        assert answer.startswith(b"HTTP/1.1 200")
        client.sendall(b"GET / HTTP/1.1\r\n")  # half of the next head on the kept connection
        assert _closed_by_server(client)


def test_a_client_that_stops_taking_its_response_is_cut_off(big_port: int) -> None:
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", big_port))
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(1.5)  # not reading: the server's buffer fills and stays full
        client.settimeout(5)
        taken = 0
        try:
            while chunk := client.recv(65536):
                taken += len(chunk)
        except ConnectionResetError:
            pass
        assert taken < BIG


def test_a_slow_client_that_keeps_reading_gets_its_whole_response(big_port: int) -> None:
    """The deadline is for a client that takes nothing, not for one whose download as a whole
    takes longer than it (here 16 MiB through a 4 KiB window, read in small steps)."""
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", big_port))
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        client.settimeout(5)
        taken, started = 0, time.monotonic()
        while taken <= BIG and (chunk := client.recv(65536)):  # cut off: ConnectionResetError
            taken += len(chunk)
            time.sleep(0.001)
        assert time.monotonic() - started > 2 * 0.3  # longer than one send deadline
    assert taken > BIG  # the body and its head


def _get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        client.settimeout(2)
        return client.recv(1024)


def test_the_connections_within_the_limit_are_served(port_for_two: int) -> None:
    with socket.create_connection(("127.0.0.1", port_for_two)):
        time.sleep(0.05)  # accepted: the next is the second of two
        assert _get(port_for_two).startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_connection_beyond_the_limit_is_answered_503_and_closed_at_once(
    port_for_two: int,
) -> None:
    """uvicorn would keep it (and its file descriptor) open to answer its requests 503."""
    with contextlib.ExitStack() as held:
        for _ in range(2):
            held.enter_context(socket.create_connection(("127.0.0.1", port_for_two)))
        time.sleep(0.05)  # both accepted
        with socket.create_connection(("127.0.0.1", port_for_two)) as third:
            third.settimeout(0.2)  # well within the 0.3 s head deadline
            answer = b""
            while chunk := third.recv(1024):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"connection: close" in answer
