"""One local endpoint for the whole module, and boto3 clients that talk to it over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from verification.endpoint import Endpoint, start_endpoint

ClientFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def endpoint() -> Iterator[Endpoint]:
    """A running endpoint on a free loopback port; tests use distinct names instead of resets."""
    with start_endpoint() as running:
        yield running


@pytest.fixture(scope="session")
def client(endpoint: Endpoint) -> ClientFactory:
    """``client("iam")``: test credentials (account 123456789012) unless others are given."""

    def make(service: str, *, session_token: str | None = None, key: str = "testing", secret: str = "testing") -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=session_token,
        )

    return make


@pytest.fixture(scope="session")
def iam(client: ClientFactory) -> Any:
    """An IAM client for the default account."""
    return client("iam")
