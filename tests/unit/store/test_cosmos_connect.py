"""A Cosmos DB that does not answer costs each call one timeout, not one for every caller that
queued behind the first connect (the SDK's connect has no deadline of its own)."""

from __future__ import annotations

import threading
import time

import pytest
from azure.core.exceptions import ServiceRequestError

from shared.store import Unavailable, cosmos
from shared.store.cosmos import CosmosStore


@pytest.fixture
def hanging_connects(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every connect takes a while, then fails, as against an endpoint that never answers."""
    attempts: list[float] = []

    class Unanswered:
        def __init__(self, *args: object, **kwargs: object) -> None:
            attempts.append(time.monotonic())
            time.sleep(0.3)
            raise ServiceRequestError("no answer")

    monkeypatch.setattr(cosmos, "CosmosClient", Unanswered)
    return attempts


def _read_concurrently(store: CosmosStore, callers: int) -> list[str]:
    outcomes: list[str] = []

    def read() -> None:
        try:
            store.container("tenants").read("tenants", "oslo")
        except Unavailable as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=read) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_callers_queued_behind_a_failed_connect_fail_at_once(hanging_connects):
    store = CosmosStore("https://127.0.0.1:1/", "a2V5", "smartby", verify_tls=False)
    outcomes = _read_concurrently(store, 4)
    assert len(outcomes) == 4  # every caller answered Unavailable
    assert len(hanging_connects) == 1  # only the first one tried
    assert sum("failed moments ago" in outcome for outcome in outcomes) == 3


def test_a_caller_waits_for_another_callers_connect_at_most_an_operation(hanging_connects):
    store = CosmosStore("https://127.0.0.1:1/", "a2V5", "smartby", verify_tls=False,
                        operation_timeout=0.05)
    outcomes = _read_concurrently(store, 2)
    assert len(outcomes) == 2
    assert sum("takes too long" in outcome for outcome in outcomes) == 1


def test_a_connect_is_tried_again_once_the_pause_is_over(hanging_connects, monkeypatch):
    store = CosmosStore("https://127.0.0.1:1/", "a2V5", "smartby", verify_tls=False)
    _read_concurrently(store, 1)
    monkeypatch.setattr(cosmos, "RECONNECT_AFTER", 0.0)
    _read_concurrently(store, 1)
    assert len(hanging_connects) == 2
