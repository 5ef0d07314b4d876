"""Pure ASGI middleware: correlation id and access log, body size limit, JSON-only bodies.

Pure ASGI (not `BaseHTTPMiddleware`) so that streaming and the Functions ASGI bridge see the
same behaviour, and so that a too-large body is refused before it is read into memory.
"""

from __future__ import annotations

import logging
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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _safe_correlation_id(value: str | None) -> str | None:
    if value and len(value) <= 64 and value.replace("-", "").isalnum():
        return value
    return None


class CorrelationMiddleware:
    """Binds a correlation id (the caller's `X-Correlation-Id`, or new) and logs each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _safe_correlation_id(_header(scope, CORRELATION_HEADER.encode()))
        with logs.correlation(given) as cid:
            started = time.perf_counter()
            status = 500
            started_response = False

            async def send_with_id(message: Message) -> None:
                nonlocal status, started_response
                if message["type"] == "http.response.start":
                    status = message["status"]
                    started_response = True
                    message.setdefault("headers", [])
                    message["headers"] = [
                        *message["headers"], (CORRELATION_HEADER.encode(), cid.encode())
                    ]
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if started_response:
                    raise
                await unexpected(scope["path"])(scope, receive, send_with_id)
            finally:
                log.info(
                    "%s %s %s", scope["method"], scope["path"], status,
                    extra={"status": status,
                           "ms": round((time.perf_counter() - started) * 1000, 1)},
                )


class BodyGuardMiddleware:
    """413 for bodies over the limit (declared or streamed), 415 for bodies that are not JSON."""

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
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
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

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        detail = (
            f"The request body is larger than {self.max_bytes} bytes."
            if status == 413
            else "Request bodies must be JSON (Content-Type: application/json)."
        )
        await problem(status, detail, instance=scope["path"])(scope, receive, send)
