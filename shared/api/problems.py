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
from starlette.routing import Match

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
    408: "Request timeout",
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
        errors = _validation_errors(exc)
        if any(error["type"] == "json_invalid" for error in errors):  # syntax, not schema
            return problem(400, "The body is not valid JSON.", instance=request.url.path,
                           errors=errors)
        return problem(
            422, "The request does not match the schema.", instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        headers = exc.headers
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers = {**(headers or {}), "Allow": allowed}  # Starlette names one route's
        return problem(exc.status_code, detail, instance=request.url.path, headers=headers)

    @app.exception_handler(InvalidRequest)
    async def _bad_request(request: Request, exc: InvalidRequest) -> Response:
        return problem(400, "The request cannot be served: check paging tokens, ids and sizes.",
                       instance=request.url.path)

    @app.exception_handler(StoreError)
    @app.exception_handler(KeyStoreError)
    @app.exception_handler(BusError)
    async def _unavailable(request: Request, exc: Exception) -> Response:
        log.warning("dependency unavailable: %s", type(exc).__name__)
        return problem(503, "A backing service is unavailable; retry later.",
                       instance=request.url.path, headers={"Retry-After": "5"})


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (RFC 9110: `Allow` of a 405),
    asked of the routes as the router asks them (included routers hold their own routes)."""
    routes = request.app.router.routes
    return ", ".join(
        method for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
               for route in routes)
    )


_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlationId": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Schema violations (422): where, what, of which kind; never the value.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "reason": {"type": "string", "description": "Ingest: the quarantine reason code."},
        "quarantineId": {"type": "string", "description": "Ingest: the quarantine record."},
    },
    "additionalProperties": True,
}
#: The 409 of a write that other writers kept beating (`ChangedMeanwhile`), for `responses=`.
CHANGED_MEANWHILE: dict[int | str, dict[str, Any]] = {
    409: {"description": "Other writers kept changing it meanwhile: retry"}
}
_PROBLEM_REF = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
#: The errors every operation of a kind can answer, beyond those it declares itself.
_COMMON = {
    "secured": {401: "No valid API key", 403: "The key may not do this (tenant or scope)"},
    "path": {404: "No such resource"},
    "body": {
        400: "The body is not UTF-8 text, or not valid JSON",
        408: "The body did not arrive in time",
        413: "The body is too large",
        415: "The body is not JSON",
    },
    "input": {422: "The request does not match the schema"},
    "paged": {400: "The continuation token is not one this listing issued"},
    "any": {503: "A backing service is down"},
}


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the API answers: every error is `application/problem+json`
    (FastAPI would list 422 as its own `HTTPValidationError` JSON), and the errors every
    secured, addressed or body-carrying operation can answer are listed."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
    for schema in ("HTTPValidationError", "ValidationError"):
        spec["components"]["schemas"].pop(schema, None)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            parameters = operation.get("parameters", ())
            kinds = ["any"]
            kinds += ["secured"] if operation.get("security") else []
            kinds += ["path"] if any(p.get("in") == "path" for p in parameters) else []
            kinds += ["body"] if "requestBody" in operation else []
            kinds += ["input"] if parameters or "requestBody" in operation else []
            kinds += ["paged"] if any(p.get("name") == "continuation" for p in parameters) else []
            responses = operation.setdefault("responses", {})
            for kind in kinds:
                for status, description in _COMMON[kind].items():
                    responses.setdefault(str(status), {"description": description})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and not _own_body(response):
                    response["content"] = _PROBLEM_REF
    return spec


def _own_body(response: dict[str, Any]) -> bool:
    """A declared error body other than FastAPI's validation error (e.g. health's report)."""
    content = response.get("content") or {}
    schema = content.get("application/json", {}).get("schema", {})
    return bool(content) and schema.get("$ref") != "#/components/schemas/HTTPValidationError"
