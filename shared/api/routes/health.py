"""Liveness and readiness of the store, bus and key store (public, no key needed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from shared import __version__
from shared.api.deps import PlatformDep

router = APIRouter(prefix="/api", tags=["health"])


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


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(platform: PlatformDep, response: Response) -> Health:
    """`ok` (200) when every dependency answers, else `degraded` (503)."""
    settings = platform.settings
    checks = {
        "store": _check(platform.store.ping, settings.store.value),
        "bus": _check(platform.bus.ping, settings.bus.value),
        "keys": _check(platform.keys.ping, settings.keystore.value),
    }
    healthy = all(c.status == "ok" for c in checks.values())
    if not healthy:
        response.status_code = 503
    return Health(status="ok" if healthy else "degraded", version=__version__, checks=checks)
