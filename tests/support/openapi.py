"""The published OpenAPI document in tests: fetch it, and check a response body against the
schema it documents (what a generated client would parse), as schemathesis'
response_schema_conformance does."""

from __future__ import annotations

import re

from openapi_schema_validator import OAS30ReadValidator

SCHEMA_URL = "/api/v1/schema/?format=json"


def published_schema(client) -> dict:
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def _operation(schema: dict, path: str, method: str) -> dict:
    """The operation whose path template matches `path` (/api/v1/orders/7/ or the template)."""
    for template, item in schema["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$"
        if (template == path or re.match(pattern, path)) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the schema")


def _nullable_references(node):
    """drf-spectacular writes a nullable nested object as `{"allOf": [{"$ref": ...}],
    "nullable": true}`. OpenAPI 3.0.3 gives `nullable` effect only beside a `type`, so a strict
    validator refuses null there; drf-spectacular, schemathesis and client generators read it
    as "null or the object", and so does this check."""
    if isinstance(node, list):
        return [_nullable_references(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_references(value) for key, value in node.items()}
    if node.get("nullable") and "type" not in node:
        rest = {key: value for key, value in node.items() if key != "nullable"}
        return {"anyOf": [rest, {"enum": [None]}]}
    return node


def body_errors(schema: dict, path: str, method: str, status: int, body) -> list[str]:
    """Where `body` departs from the schema of this operation's `status` response."""
    response = _operation(schema, path, method)["responses"][str(status)]
    (content,) = response["content"].values()
    root = {"allOf": [content["schema"]], "components": schema["components"]}
    validator = OAS30ReadValidator(_nullable_references(root))
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(body)
    ]


def assert_matches_schema(schema: dict, response, path: str | None = None) -> None:
    """The Django test response's JSON body is what the schema says this operation answers."""
    request = response.wsgi_request
    errors = body_errors(
        schema, path or request.path, request.method, response.status_code, response.json()
    )
    assert not errors, f"{request.method} {request.path} ({response.status_code}): {errors}"
