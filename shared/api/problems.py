"""RFC 9457 problem details: the only shape an error leaves the API in.

Every path out is mapped here, once: domain errors (`shared.errors`), request validation,
routing errors (404, 405), adapter failures (503) and anything unexpected (500: the correlation
middleware catches it, logs it with the correlation id and answers `unexpected()`, never with a
stack trace in the response).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from shared import logs
from shared.bus import BusError
from shared.errors import SmartbyError
from shared.keys import KeyStoreError
from shared.store import InvalidRequest, StoreError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    correlation_id = logs.current_correlation_id()
    if correlation_id:
        body["correlationId"] = correlation_id
    body.update(extensions)
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the rejected input back: it may hold a key (e.g. a malformed appSKey).
    return [
        {"loc": [str(p) for p in error.get("loc", ())], "msg": error.get("msg"),
         "type": error.get("type")}
        for error in exc.errors()[:50]
    ]


def unexpected(path: str) -> Response:
    """The 500 answer; `shared.api.middleware` logs the cause with the correlation id."""
    return problem(500, "An unexpected error occurred.", instance=path)


def install(app: FastAPI) -> None:
    @app.exception_handler(SmartbyError)
    async def _domain(request: Request, exc: SmartbyError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(exc.status, exc.detail, instance=request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return problem(
            422, "The request does not match the schema.", instance=request.url.path,
            errors=_validation_errors(exc),
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem(exc.status_code, detail, instance=request.url.path, headers=exc.headers)

    @app.exception_handler(InvalidRequest)
    async def _bad_request(request: Request, exc: InvalidRequest) -> Response:
        return problem(400, "The request cannot be served: check paging tokens and ids.",
                       instance=request.url.path)

    @app.exception_handler(StoreError)
    @app.exception_handler(KeyStoreError)
    @app.exception_handler(BusError)
    async def _unavailable(request: Request, exc: Exception) -> Response:
        log.warning("dependency unavailable: %s", type(exc).__name__)
        return problem(503, "A backing service is unavailable; retry later.",
                       instance=request.url.path, headers={"Retry-After": "5"})
