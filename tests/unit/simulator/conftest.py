"""A fake Smartby API behind httpx.MockTransport: the contract the simulator relies on."""

from __future__ import annotations

import base64
import re
import secrets
import threading
from typing import Any

import httpx
import pytest

ADMIN_KEY = "sby-admin-test-0123456789"
BASE_URL = "http://smartby.test"


def problem(status: int, title: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"title": title, "status": status},
        headers={"content-type": "application/problem+json"},
    )


class FakeApi:
    """Tenants, keys, devices and ingest, answering as the real API documents."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[httpx.Request] = []
        self.tenants: set[str] = set()
        self.keys: dict[str, dict[str, Any]] = {}  # key -> {"id", "name", "tenant"}
        self.devices: dict[tuple[str, str], dict[str, Any]] = {}
        self.unhealthy_checks = 0  # answer 503 to this many health checks first
        self.device_status: int | None = None  # force this status on device PUTs
        self.ingest_status = 202

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=BASE_URL, transport=self.transport)

    def ingests(self) -> list[httpx.Request]:
        with self.lock:
            return [r for r in self.requests if "/ingest/" in r.url.path]

    def _caller(self, request: httpx.Request) -> str | None:
        """'admin', the tenant of an issued key, or None."""
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        if key == ADMIN_KEY:
            return "admin"
        entry = self.keys.get(key)
        return entry["tenant"] if entry else None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            return self._route(request)

    def _route(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/api/health":
            if self.unhealthy_checks:
                self.unhealthy_checks -= 1
                return httpx.Response(503, json={"status": "degraded"})
            return httpx.Response(200, json={"status": "ok"})
        caller = self._caller(request)
        if caller is None:
            return problem(401, "Unauthenticated")
        if path == "/api/tenants" and method == "POST":
            tenant = httpx.Response(200, content=request.content).json()["id"]
            if tenant in self.tenants:
                return problem(409, "Conflict")
            self.tenants.add(tenant)
            return httpx.Response(201, json={"id": tenant})
        match = re.fullmatch(r"/api/tenants/([a-z0-9-]+)/(.+)", path)
        if match is None:
            return problem(404, "Not found")
        tenant, rest = match.groups()
        if tenant not in self.tenants:
            return problem(404, "Not found")
        if rest.startswith("ingest/"):
            if caller != tenant:
                return problem(403, "Forbidden")
            return httpx.Response(self.ingest_status)
        if caller != "admin":
            return problem(403, "Forbidden")
        if rest == "keys" and method == "POST":
            body = httpx.Response(200, content=request.content).json()
            key_id = secrets.token_hex(6)
            key = f"sby.{tenant}.{key_id}.{secrets.token_urlsafe(16)}"
            self.keys[key] = {"id": key_id, "name": body["name"], "tenant": tenant}
            return httpx.Response(201, json={"id": key_id, "name": body["name"], "key": key})
        if rest == "keys" and method == "GET":
            listed = [
                {"id": k["id"], "name": k["name"]}
                for k in self.keys.values()
                if k["tenant"] == tenant
            ]
            return httpx.Response(200, json=listed)
        if rest.startswith("keys/") and method == "DELETE":
            key_id = rest.removeprefix("keys/")
            self.keys = {k: v for k, v in self.keys.items() if v["id"] != key_id}
            return httpx.Response(204)
        if rest.startswith("devices/") and method == "PUT":
            if self.device_status is not None:
                return problem(self.device_status, "Invalid input")
            device = (tenant, rest.removeprefix("devices/"))
            existed = device in self.devices
            self.devices[device] = httpx.Response(200, content=request.content).json()
            return httpx.Response(200 if existed else 201, json={"devEui": device[1]})
        return problem(404, "Not found")

    def demo_keys(self, tenant: str, name: str) -> list[str]:
        return [k for k, v in self.keys.items() if v["tenant"] == tenant and v["name"] == name]


def fcnt_of(request: httpx.Request) -> int | None:
    """The FCnt an ingest request carries (None for IP devices)."""
    body = httpx.Response(200, content=request.content).json()
    if "uplink_message" in body:
        return body["uplink_message"].get("f_cnt", 0)
    return body.get("fCnt")


def dev_eui_of(request: httpx.Request) -> str:
    body = httpx.Response(200, content=request.content).json()
    if "uplink_message" in body:
        return body["end_device_ids"]["dev_eui"].lower()
    if "deviceInfo" in body:
        return body["deviceInfo"]["devEui"]
    return request.url.path.rsplit("/", 1)[1]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()
