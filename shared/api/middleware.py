"""Pure ASGI middleware: correlation id, access log and protective response headers; body size
limit, body deadline, JSON-only bodies.

Pure ASGI (not `BaseHTTPMiddleware`) so that streaming and the Functions ASGI bridge see the
same behaviour, and so that a too-large body is refused before it is read into memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from shared import logs
from shared.api.problems import problem, unexpected

log = logging.getLogger("smartby.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = {"POST", "PUT", "PATCH"}
CORRELATION_HEADER = "x-correlation-id"
_CORRELATION_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # ASCII: echoed back byte for byte
#: How long a client may take to send its body (the local runtime faces the network itself;
#: in Azure the Functions host has read it already).
BODY_DEADLINE_S = 30.0
#: Every response: no MIME sniffing, no framing (the API docs' "Authorize"), no referrer.
_EVERY_RESPONSE = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
#: API responses carry tenants' data and, once, new keys: no cache keeps them.
_API_RESPONSE = ((b"cache-control", b"no-store"),)
#: The access log's status for a client that went away before any response (nginx's 499).
CLIENT_CLOSED = 499


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _safe_correlation_id(value: str | None) -> str | None:
    return value if value and _CORRELATION_ID.fullmatch(value) else None


def _with_protective_headers(headers: list[tuple[bytes, bytes]], path: str) -> list:
    """`headers` and those of `_EVERY_RESPONSE` (and for `/api/`, `_API_RESPONSE`) that the
    route did not set itself."""
    present = {name.lower() for name, _ in headers}
    wanted = _EVERY_RESPONSE + (_API_RESPONSE if path.startswith("/api/") else ())
    return [*headers, *((name, value) for name, value in wanted if name not in present)]


def _printable(path: str) -> str:
    """A path as the access log shows it: a decoded %0A must not start a line of its own."""
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")


class CorrelationMiddleware:
    """Binds a correlation id (the caller's `X-Correlation-Id`, or new), logs each request, and
    gives every response the protective headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _safe_correlation_id(_header(scope, CORRELATION_HEADER.encode()))
        with logs.correlation(given) as cid:
            started = time.perf_counter()
            status = CLIENT_CLOSED  # unless a response starts
            started_response = False

            async def send_with_id(message: Message) -> None:
                nonlocal status, started_response
                if message["type"] == "http.response.start":
                    status = message["status"]
                    started_response = True
                    message["headers"] = _with_protective_headers(
                        [*message.get("headers", []), (CORRELATION_HEADER.encode(), cid.encode())],
                        scope["path"],
                    )
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                path = _printable(scope["path"])
                log.exception("unhandled error on %s %s", scope["method"], path)
                if started_response:
                    raise
                await unexpected(scope["path"])(scope, receive, send_with_id)
            finally:
                log.info(
                    "%s %s %s", scope["method"], _printable(scope["path"]), status,
                    extra={"status": status,
                           "ms": round((time.perf_counter() - started) * 1000, 1)},
                )


class BodyGuardMiddleware:
    """413 for bodies over the limit (declared or streamed), 408 for one that does not arrive
    within BODY_DEADLINE_S, 415 for bodies that are not JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send, 413)
            return
        try:
            async with asyncio.timeout(BODY_DEADLINE_S):
                body = await self._read_body(receive)
        except TimeoutError:
            await self._refuse(scope, receive, send, 408)
            return
        if body is None:  # the client went away
            return
        if len(body) > self.max_bytes:
            await self._refuse(scope, receive, send, 413)
            return
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if body and not (content_type == "application/json" or content_type.endswith("+json")):
            await self._refuse(scope, receive, send, 415)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The body, or None if the client disconnected; reading stops one chunk past the
        limit (the caller refuses that body)."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more and size <= self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        detail = {
            408: f"The request body did not arrive within {BODY_DEADLINE_S:g} s.",
            413: f"The request body is larger than {self.max_bytes} bytes.",
            415: "Request bodies must be JSON (Content-Type: application/json).",
        }[status]
        await problem(status, detail, instance=scope["path"])(scope, receive, send)
