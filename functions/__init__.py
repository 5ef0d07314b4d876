"""Thin trigger adapters, one blueprint per stage; the platform is built once per worker."""

from __future__ import annotations

from functools import cache

from shared import logs
from shared.bootstrap import Platform, build_platform
from shared.settings import Settings


@cache
def platform() -> Platform:
    settings = Settings()
    logs.configure(settings.log_format, settings.log_level)
    return build_platform(settings)
