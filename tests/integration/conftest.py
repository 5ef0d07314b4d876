"""One local Cosmos-API server for the whole integration tier (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.local_servers import CosmosEndpoint, cosmos_server


def pytest_configure(config: pytest.Config) -> None:
    # The loopback test server's certificate is self-signed, so verification is off on purpose;
    # the SDK's background requests warn outside any one test, hence a run-wide filter, scoped
    # to loopback by its message.
    config.addinivalue_line(
        "filterwarnings", "ignore:Unverified HTTPS request is being made to host '127.0.0.1'"
    )


@pytest.fixture(scope="session")
def cosmos_endpoint() -> Iterator[CosmosEndpoint]:
    with cosmos_server() as endpoint:
        yield endpoint
