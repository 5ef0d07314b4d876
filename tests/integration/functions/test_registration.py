"""The functions the host will index: a broken decorator fails here, not in a deployment."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func

from shared.settings import setting_names


def _indexed(function_app) -> dict[str, dict]:
    found = {}
    for function in function_app.app.get_functions():
        raw = json.loads(function.get_function_json())
        found[function.get_function_name()] = raw
    return found


def test_http_api_is_one_anonymous_catch_all_function(function_app):
    functions = _indexed(function_app)
    http = [f for f in functions.values() if f["bindings"][0]["type"] == "httpTrigger"]
    assert len(http) == 1
    trigger = http[0]["bindings"][0]
    assert trigger["authLevel"] == "ANONYMOUS"
    assert trigger["route"] == "/{*route}"


def _function(function_app, trigger_type: str):
    for function in function_app.app.get_functions():
        if json.loads(function.get_function_json())["bindings"][0]["type"] == trigger_type:
            return function
    raise AssertionError(f"no {trigger_type} function")


def test_http_function_serves_the_api_under_api_prefix(function_app):
    """Call the registered HTTP function with a host-shaped request, as the host does."""
    handler = _function(function_app, "httpTrigger").get_user_function()
    request = func.HttpRequest(
        method="GET", url="http://localhost/api/health", headers={}, body=b"", route_params={}
    )
    # A thread of its own: a browser test earlier in the session may leave a loop running here.
    with ThreadPoolExecutor(1) as pool:
        response = pool.submit(asyncio.run, handler(request, context=None)).result()
    assert response.status_code == 200
    assert json.loads(response.get_body())["status"] == "ok"


def test_every_connection_setting_is_a_known_setting(function_app):
    names = set(setting_names())
    for definition in _indexed(function_app).values():
        for binding in definition["bindings"]:
            connection = binding.get("connection")
            if connection:
                assert f"{connection}__fullyQualifiedNamespace" in names
            for key in ("eventHubName", "consumerGroup"):
                value = binding.get(key, "")
                if value.startswith("%"):
                    assert value.strip("%") in names


#: Every function the host indexes: (trigger type, connection, settings the binding reads).
EXPECTED_FUNCTIONS = {
    "http_app_func": ("httpTrigger", None, set()),
    "ingest_iothub": (
        "eventHubTrigger", "IOTHUB", {"IOTHUB_EVENTHUB_NAME", "IOTHUB_CONSUMER_GROUP"},
    ),
    "seal_quiet_hours": ("timerTrigger", None, set()),
}


def test_the_registered_functions_are_exactly_these(function_app):
    found = {}
    for name, definition in _indexed(function_app).items():
        trigger = definition["bindings"][0]
        settings = {
            value.strip("%") for value in trigger.values()
            if isinstance(value, str) and value.startswith("%") and value.endswith("%")
        }
        found[name] = (trigger["type"], trigger.get("connection"), settings)
    assert found == EXPECTED_FUNCTIONS


def test_the_host_retries_a_failed_ingest_batch_until_the_store_is_back(registered):
    """Ingest raises only for an unavailable store, key store or bus (bad messages are
    quarantined); with a bounded retry the Event Hubs trigger would checkpoint past the batch
    and lose it, so the retry is unbounded, backing off to a few minutes. It is the function's
    own policy: the host-wide one in host.json is deprecated for Event Hubs triggers."""
    from pathlib import Path

    retry = registered("ingest_iothub").get_settings_dict("retry_policy")
    assert retry["strategy"] == "exponential_backoff"
    assert retry["max_retry_count"] == "-1"
    assert retry["maximum_interval"] == "00:05:00"
    assert "retry" not in json.loads((Path(__file__).parents[3] / "host.json").read_text())
