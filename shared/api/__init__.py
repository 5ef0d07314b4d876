"""The HTTP API: one FastAPI app, served by the Functions host (Azure) or uvicorn (local).

All routes live under `/api/...` in the app itself; `host.json` sets the Functions `routePrefix`
to empty so both runtimes expose the same paths.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from shared import __version__
from shared.api import problems
from shared.api.middleware import BodyGuardMiddleware, CorrelationMiddleware
from shared.api.routes import devices, health, ingest, portal, telemetry, tenants
from shared.bootstrap import Platform

DESCRIPTION = """
Smartby's API for app backends, operators and onboarding tools.

Authenticate with an API key: `Authorization: Bearer <key>`. Keys belong to one tenant
(kommune) and carry scopes (`tenant-admin`, `ingest`, `app`, `read`); the platform admin key
comes from settings. Errors are RFC 9457 `application/problem+json`.
"""


def create_app(platform: Platform) -> FastAPI:
    app = FastAPIOffline(  # only for the Swagger UI files it ships: `portal.docs` is the page
        title="Smartby API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        static_url=portal.DOCS_STATIC,
    )
    app.state.platform = platform
    app.state.health_checks = health.RecentChecks()
    problems.install(app)
    app.openapi = lambda: app.openapi_schema or _documented(app)  # type: ignore[method-assign]
    app.include_router(health.router)
    app.include_router(tenants.router)
    app.include_router(devices.router)
    app.include_router(ingest.router)
    app.include_router(telemetry.router)
    app.include_router(telemetry.platform_router)
    app.include_router(portal.router)
    app.mount(
        "/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"
    )
    app.add_middleware(BodyGuardMiddleware, max_bytes=platform.settings.max_body_bytes)
    app.add_middleware(CorrelationMiddleware)
    return app


def _documented(app: FastAPI) -> dict:
    """FastAPI's OpenAPI document, with the errors as the API answers them; built once."""
    app.openapi_schema = problems.document(FastAPI.openapi(app))
    return app.openapi_schema
