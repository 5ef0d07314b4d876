"""What every API response promises: problem+json errors, size limits, docs, correlation ids."""

from __future__ import annotations

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


def test_docs_page_is_served_without_a_cdn(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text
    assert client.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200


def test_unknown_route_is_404_problem(client):
    _is_problem(client.get("/api/does-not-exist"), 404)


def test_wrong_method_is_405_problem(client):
    _is_problem(client.delete("/api/health"), 405)


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


def test_malformed_json_is_422_problem(client):
    response = client.post(
        "/api/tenants",
        content=b'{"id": ',
        headers=auth(ADMIN_KEY) | {"Content-Type": "application/json"},
    )
    _is_problem(response, 422)


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
    created = client.get("/api/health", headers={"X-Correlation-Id": "bad id; drop"})
    assert created.headers["x-correlation-id"] != "bad id; drop"
    assert len(created.headers["x-correlation-id"]) == 16


def test_validation_errors_do_not_echo_the_input(client):
    response = client.post(
        "/api/tenants",
        json={"id": "x", "name": "n", "kommunenummer": "deadbeefdeadbeefdeadbeefdeadbeef"},
        headers=auth(ADMIN_KEY),
    )
    body = _is_problem(response, 422)
    assert "deadbeef" not in response.text
    assert {"loc", "msg", "type"} == set(body["errors"][0])
