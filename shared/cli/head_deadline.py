"""uvicorn's h11 protocol with a deadline for every request head, for `smartby serve`.

uvicorn times a connection out only between requests, from its first response on: a client
that connects and sends nothing, or half a request head, holds a file descriptor for good, and a
few hundred such connections (or one slow client script) leave none for anyone else. Here each
connection has REQUEST_HEAD_TIMEOUT_S to send a whole head; the body has its own deadline in
`shared.api.middleware`. A client that stops taking a response (its window full, the server's
buffer full) is cut off once RESPONSE_SEND_TIMEOUT_S pass in which it took none of it, or a few
hundred clients that pipeline requests and never read would hold their connections, and the
answers, for good; a slow client that keeps reading is served however long it takes. A
connection beyond the limit (`limit_concurrency`) is answered 503 and closed as it is accepted:
uvicorn itself would hold it open, and its file descriptor, to answer its requests 503. (In
Azure the Functions host fronts HTTP; this is the local runtime's.)
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_HEAD_TIMEOUT_S = 10.0
RESPONSE_SEND_TIMEOUT_S = 30.0
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: 19\r\n\r\nService Unavailable"
)


def limit_concurrency(connections: int) -> int:
    """uvicorn's `limit_concurrency` for serving `connections` at once: it answers 503 from the
    limit on, counting the connection that asks among them."""
    return connections + 1


class HeadDeadlineH11Protocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None
    _send_timer: asyncio.TimerHandle | None = None
    _unsent = 0  # bytes the transport held when the send deadline was last set

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.limit_concurrency is not None and len(self.connections) >= self.limit_concurrency:
            transport.write(_UNAVAILABLE)
            transport.close()  # after the answer; connection_lost forgets the connection
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is None or self.cycle.response_complete:
            self._await_head()  # a head not yet whole, or the next one on a kept-alive connection
        else:
            self._head_arrived()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        self._sending_again()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_deadline()

    def resume_writing(self) -> None:
        self._sending_again()
        super().resume_writing()

    def _send_deadline(self) -> None:
        self._unsent = self.transport.get_write_buffer_size()
        self._send_timer = self.loop.call_later(RESPONSE_SEND_TIMEOUT_S, self._stalled)

    def _stalled(self) -> None:
        """The deadline passed with the buffer still above its low mark: cut the client off if
        it took nothing since, else give it another deadline."""
        if self.transport.get_write_buffer_size() < self._unsent:
            self._send_deadline()
            return
        self._send_timer = None
        self.transport.abort()  # close() would wait to flush what the client does not take

    def _sending_again(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                REQUEST_HEAD_TIMEOUT_S, self.timeout_keep_alive_handler
            )

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
