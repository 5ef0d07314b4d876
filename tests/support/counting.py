"""Counting what the Cosmos SDK sends: the figure Cosmos bills and throttles by is requests."""

from __future__ import annotations

import io
from typing import Any

import orjson
import requests
from azure.core.pipeline.transport import HttpRequest, HttpResponse, RequestsTransport
from azure.core.rest._requests_basic import RestRequestsTransportResponse
from requests.structures import CaseInsensitiveDict


class CountingTransport(RequestsTransport):
    """The SDK's default transport, counting every request it sends (retries included)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests = 0

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        self.requests += 1
        return super().send(request, **kwargs)


class ThrottledTransport(CountingTransport):
    """Answers every document request with Cosmos DB's 429 and the given retry-after, as a
    partition over its provisioned throughput does; other requests go to the server."""

    def __init__(self, retry_after_ms: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after_ms = retry_after_ms
        self.throttled = 0

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        if "/docs" not in request.url:
            return super().send(request, **kwargs)
        self.requests += 1
        self.throttled += 1
        body = orjson.dumps({"code": "TooManyRequests", "message": "Request rate is large"})
        answer = requests.Response()
        answer.status_code, answer.reason, answer.url = 429, "Too Many Requests", request.url
        answer.headers = CaseInsensitiveDict({
            "Content-Type": "application/json",
            "x-ms-retry-after-ms": str(self.retry_after_ms),
            "x-ms-substatus": "3200",
        })
        answer._content, answer.raw = body, io.BytesIO(body)
        response = RestRequestsTransportResponse(request=request, internal_response=answer)
        response.read()
        return response  # type: ignore[return-value]
