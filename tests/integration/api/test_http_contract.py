"""What every API response promises: problem+json errors, size limits, docs, correlation ids."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_KEY, auth

PROBLEM = "application/problem+json"


def _is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_health_reports_each_dependency(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"store", "bus", "keys"}
    assert body["checks"]["store"]["adapter"] == "embedded"


def test_health_is_503_when_the_store_is_down(client, platform):
    platform.store.close()
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["store"]["status"] == "failing"


def test_openapi_documents_the_bearer_scheme_and_problem_errors(client):
    spec = client.get("/api/openapi.json").json()
    assert spec["info"]["title"] == "Smartby API"
    assert "/api/tenants" in spec["paths"]
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    # Client generators need each operation named once.
    operation_ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_docs_page_is_served_without_a_cdn(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text
    assert client.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200


def test_unknown_route_is_404_problem(client):
    _is_problem(client.get("/api/does-not-exist"), 404)


def test_wrong_method_is_405_problem(client):
    _is_problem(client.delete("/api/health"), 405)


def test_a_405_names_every_method_the_path_serves(client, make_tenant):
    """RFC 9110: `Allow` lists the resource's methods, from every route at its path."""
    make_tenant("larvik", "3909")
    device = "/api/tenants/larvik/devices/0004a30b001c2b3d"
    for path, allowed in [("/api/tenants", "GET, POST"),
                          ("/api/tenants/larvik", "GET, PATCH"),
                          (device, "DELETE, GET, PUT")]:
        response = client.post(path, headers=auth(ADMIN_KEY)) if "devices" in path else (
            client.delete(path, headers=auth(ADMIN_KEY)))
        _is_problem(response, 405)
        assert response.headers["allow"] == allowed
    assert client.post("/static/portal.css").headers["allow"] == "GET, HEAD"


def test_oversized_body_is_413_before_it_is_read(client, platform):
    limit = platform.settings.max_body_bytes
    response = client.post(
        "/api/tenants",
        content=b"{" + b" " * limit + b"}",
        headers=auth(ADMIN_KEY) | {"Content-Type": "application/json"},
    )
    _is_problem(response, 413)


def test_streamed_oversized_body_is_413(client, platform):
    limit = platform.settings.max_body_bytes

    def chunks():
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    response = client.post(
        "/api/tenants",
        content=chunks(),
        headers=auth(ADMIN_KEY) | {"Content-Type": "application/json"},
    )
    _is_problem(response, 413)


def test_non_json_body_is_415(client):
    response = client.post(
        "/api/tenants", content=b"id=x", headers=auth(ADMIN_KEY) | {"Content-Type": "text/plain"}
    )
    _is_problem(response, 415)


@pytest.mark.parametrize(
    ("body", "status"), [(b'{"id": ', 400), (b'{"id": "\xc3\x28"}', 400)]  # syntax: 400
)
def test_a_body_that_is_not_json_is_a_declared_problem(client, body: bytes, status: int):
    response = client.post(
        "/api/tenants", content=body, headers=auth(ADMIN_KEY) | {"Content-Type": "application/json"}
    )
    _is_problem(response, status)
    declared = client.get("/api/openapi.json").json()["paths"]["/api/tenants"]["post"]
    assert str(status) in declared["responses"]


def test_unexpected_error_is_500_without_a_stack_trace(client, platform, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app.py line 3")

    monkeypatch.setattr(platform.tenants, "get", explode)
    response = client.get("/api/tenants/sandefjord", headers=auth(ADMIN_KEY))
    body = _is_problem(response, 500)
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert body["correlationId"]


def test_store_outage_is_503_with_retry_after(client, platform, monkeypatch):
    from shared.store import Unavailable

    def down(*args, **kwargs):
        raise Unavailable("throttled")

    monkeypatch.setattr(platform.tenants, "get", down)
    response = client.get("/api/tenants/sandefjord", headers=auth(ADMIN_KEY))
    _is_problem(response, 503)
    assert response.headers["retry-after"] == "5"


def test_correlation_id_is_echoed_or_created(client):
    given = client.get("/api/health", headers={"X-Correlation-Id": "abc-123"})
    assert given.headers["x-correlation-id"] == "abc-123"
    for unsafe in (b"bad id; drop", b"\xc0\xaa"):  # Latin-1 letters would echo as other bytes
        created = client.get("/api/health", headers={"X-Correlation-Id": unsafe})
        assert created.headers["x-correlation-id"] != unsafe.decode("latin-1")
        assert len(created.headers["x-correlation-id"]) == 16


def test_every_response_carries_the_protective_headers(client, make_tenant):
    """An issued key (and any tenant data) is never kept by a cache; nothing is sniffed or
    framed (the API docs' "Authorize" included) or sent on as a referrer."""
    make_tenant("sandefjord")
    issued = client.post("/api/tenants/sandefjord/keys", json={"name": "k", "scopes": ["read"]},
                         headers=auth(ADMIN_KEY))
    assert issued.json()["key"].startswith("sby.")
    for response in (issued, client.get("/api/docs"), client.get("/api/nothing-here"),
                     client.get("/"), client.get("/static/portal.css")):
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["x-frame-options"] == "DENY", response.url
        assert response.headers["referrer-policy"] == "no-referrer", response.url
    assert issued.headers["cache-control"] == "no-store"
    assert client.get("/api/nothing-here").headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/static/portal.css").headers.get("cache-control", "")


def test_every_page_allows_scripts_from_this_origin_only(client):
    """The docs page, where an operator pastes the admin key, runs no injected script: its
    one inline script is allowed by its hash. The portal page has one address."""
    import base64
    import hashlib
    import re

    for path in ("/", "/api/docs"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0], path
        for script in re.findall(rb"<script>(.*?)</script>", response.content, re.DOTALL):
            digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
            assert f"'sha256-{digest}'" in policy, path
    assert client.get("/static/index.html").status_code == 404
    assert client.get("/api/docs/oauth2-redirect").status_code == 404


def test_uptime_probes_may_ask_with_head(client):
    for path in ("/", "/api/health"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""


def test_health_probes_the_dependencies_at_most_every_few_seconds(client, platform, monkeypatch):
    """The endpoint is public: each probe is a Cosmos and a Key Vault request."""
    from shared.api.routes import health

    probes, now = [], [1000.0]
    monkeypatch.setattr(platform.keys, "ping", lambda: probes.append("keys"))
    client.app.state.health_checks = health.RecentChecks(clock=lambda: now[0])
    for _ in range(20):
        assert client.get("/api/health").status_code == 200
    assert probes == ["keys"]
    now[0] += health.CHECKS_FRESH_S
    client.get("/api/health")
    assert probes == ["keys", "keys"]


def test_validation_errors_do_not_echo_the_input(client):
    response = client.post(
        "/api/tenants",
        json={"id": "x", "name": "n", "kommunenummer": "deadbeefdeadbeefdeadbeefdeadbeef"},
        headers=auth(ADMIN_KEY),
    )
    body = _is_problem(response, 422)
    assert "deadbeef" not in response.text
    assert {"loc", "msg", "type"} == set(body["errors"][0])


def _asgi(app, method: str, path: str, headers: list, receive) -> list[dict]:
    """One request straight through the ASGI app, as a server would make it."""
    import asyncio

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("192.0.2.7", 50000), "server": ("testserver", 80)}
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_a_body_that_does_not_arrive_is_answered_408(platform, monkeypatch):
    """`smartby serve` faces the network itself: a client declaring a body and never sending
    it must not hold a request open for ever."""
    import asyncio

    from shared.api import create_app, middleware

    monkeypatch.setattr(middleware, "BODY_DEADLINE_S", 0.2)

    async def stalled():
        await asyncio.sleep(3600)

    sent = _asgi(create_app(platform), "POST", "/api/tenants",
                 [(b"content-type", b"application/json"), (b"content-length", b"100")], stalled)
    assert sent[0]["status"] == 408
    assert dict(sent[0]["headers"])[b"content-type"] == PROBLEM.encode()


def test_a_client_gone_before_its_body_is_logged_as_499_not_a_server_error(platform, caplog):
    import logging

    from shared.api import create_app

    async def gone():
        return {"type": "http.disconnect"}

    with caplog.at_level(logging.INFO, logger="smartby.access"):
        sent = _asgi(create_app(platform), "POST", "/api/tenants",
                     [(b"content-type", b"application/json"), (b"content-length", b"100")], gone)
    assert sent == []
    assert [r.status for r in caplog.records if r.name == "smartby.access"] == [499]


def test_a_path_cannot_add_lines_to_the_access_log(platform, caplog):
    import logging

    from shared.api import create_app

    async def empty():
        return {"type": "http.request", "body": b"", "more_body": False}

    forged = "/api/x\n12:00:00 INFO    smartby.access: GET /api/admin 200"
    with caplog.at_level(logging.INFO, logger="smartby.access"):
        _asgi(create_app(platform), "GET", forged, [], empty)
    [line] = [r.getMessage() for r in caplog.records if r.name == "smartby.access"]
    assert "\n" not in line and "/api/x\\n12:00:00" in line
