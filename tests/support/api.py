"""API test helpers: keys, clients, and problem+json assertions (fixtures exported by
tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tenants.models import ApiScope
from tenants.scope import current_merchant_ids

ALL_SCOPES = tuple(ApiScope.values)


@pytest.fixture
def make_api_key(db) -> Callable[..., str]:
    """Issue a key (all scopes unless told) and return the raw key."""
    from tenants.services import create_api_key

    def make(*, merchant=None, agency=None, scopes=ALL_SCOPES, name="test key") -> str:
        return create_api_key(name=name, scopes=scopes, merchant=merchant, agency=agency).raw_key

    return make


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def call(client):
    """`call("get", url, key=..., **kwargs)`: a request with the key as Bearer token; checks
    that the request left no tenant scope behind on this thread."""

    def do(method: str, url: str, key: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if method.lower() in {"post", "put", "patch"} and "content_type" not in kwargs:
            kwargs.setdefault("format", "json")
        response = getattr(client, method.lower())(url, headers=headers, **kwargs)
        assert current_merchant_ids() is None, "the request leaked its tenant scope"
        return response

    return do


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an application/problem+json error with this status and code."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = json.loads(response.content)
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith("/" + code)
    return body
