"""Counting what the Cosmos SDK sends: the figure Cosmos bills and throttles by is requests."""

from __future__ import annotations

from typing import Any

from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport


class CountingTransport(RequestsTransport):
    """The SDK's default transport, counting every request it sends (retries included)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests = 0

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        self.requests += 1
        return super().send(request, **kwargs)
