"""How the Cosmos adapter reads a transactional batch's answer, for answers the local server
never gives (it always returns bodies)."""

from __future__ import annotations

from shared.store.cosmos import _written


def test_an_operation_answered_without_its_body_is_the_body_sent_with_the_new_etag():
    sent = {"id": "a", "tenant": "t", "n": 1}
    assert _written(sent, {"statusCode": 200, "eTag": '"e2"'}) == {**sent, "_etag": '"e2"'}


def test_an_operation_answered_with_its_body_is_that_body_without_cosmos_internals():
    stored = {"id": "a", "tenant": "t", "n": 1, "_etag": '"e2"', "_ts": 5}
    internals = {"_rid": "x", "_self": "y"}
    answer = {"statusCode": 201, "eTag": '"e2"', "resourceBody": {**stored, **internals}}
    assert _written({"id": "a"}, answer) == stored
