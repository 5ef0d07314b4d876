"""Liveness and readiness of the store, bus and key store (public, no key needed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from shared import __version__
from shared.api.deps import PlatformDep
from shared.bootstrap import Platform

router = APIRouter(prefix="/api", tags=["health"])
CHECKS_FRESH_S = 5.0


class Check(BaseModel):
    status: Literal["ok", "failing"]
    latency_ms: float
    adapter: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, Check]


def _check(probe: Callable[[], None], adapter: str) -> Check:
    started = time.perf_counter()
    try:
        probe()
        state: Literal["ok", "failing"] = "ok"
    except Exception:  # any failure of a probe is a failing check, reported, not raised
        state = "failing"
    return Check(
        status=state, latency_ms=round((time.perf_counter() - started) * 1000, 2), adapter=adapter
    )


class RecentChecks:
    """The last probe of the dependencies, reused for CHECKS_FRESH_S: the endpoint is public,
    and each probe is a request to Cosmos, Event Hubs and Key Vault, whose limits are shared.
    One probe runs at a time; callers meanwhile wait for its result."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._checks: dict[str, Check] = {}
        self._until = 0.0

    def get(self, platform: Platform) -> dict[str, Check]:
        with self._lock:
            if self._clock() >= self._until:
                settings = platform.settings
                self._checks = {
                    "store": _check(platform.store.ping, settings.store.value),
                    "bus": _check(platform.bus.ping, settings.bus.value),
                    "keys": _check(platform.keys.ping, settings.keystore.value),
                }
                self._until = self._clock() + CHECKS_FRESH_S
            return self._checks


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(platform: PlatformDep, request: Request, response: Response) -> Health:
    """`ok` (200) when every dependency answers, else `degraded` (503); checked at most every
    few seconds."""
    checks = request.app.state.health_checks.get(platform)
    healthy = all(c.status == "ok" for c in checks.values())
    if not healthy:
        response.status_code = 503
    return Health(status="ok" if healthy else "degraded", version=__version__, checks=checks)


# HEAD too, for uptime probes; left out of the OpenAPI document, where it would be a second
# operation under the same operationId.
router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)
