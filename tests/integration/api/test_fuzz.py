"""Property-based fuzzing of every operation from the published OpenAPI document.

Any input, valid or not, must get a documented answer: never a 5xx, never a response that
breaks the schema. Runs in-process with the admin key, bounded in examples per operation.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.api import create_app
from shared.bootstrap import build_platform
from tests.conftest import ADMIN_KEY, make_settings

_CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    platform = build_platform(make_settings(tmp_path_factory.mktemp("fuzz")))
    from shared.tenants.model import TenantCreate

    platform.tenants.create(TenantCreate(id="sandefjord", name="Sandefjord", kommunenummer="3907"))
    yield create_app(platform)
    platform.close()


def test_every_operation_answers_within_its_contract(fuzzed_app):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzzed_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        _fuzz(operation)


def _fuzz(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_within_contract(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN_KEY}"}
        response = case.call()
        assert response.status_code < 500, (operation.label, response.text)
        if response.status_code >= 400:
            content_type = response.headers.get("content-type")
            assert content_type and "application/problem+json" in content_type[0], (
                operation.label, response.status_code, response.headers)
        # Documented status, content type and body schema, for successes and errors alike.
        case.validate_response(response, checks=_CONFORMANCE)

    answers_within_contract()
