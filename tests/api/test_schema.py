"""The OpenAPI 3 document and the offline docs: public, valid, and describing auth, scopes,
problem+json errors, pagination and Idempotency-Key for every operation."""

from __future__ import annotations

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def schema_of(client) -> dict:
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_the_schema_is_public_and_a_valid_openapi_3_document(client):
    response = client.get("/api/v1/schema/", headers={"Authorization": "Bearer kls_revoked"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    validate(schema)
    assert schema_of(client) == schema


def test_the_schema_describes_the_bearer_key(client):
    schema = schema_of(client)
    assert schema["components"]["securitySchemes"]["ApiKey"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    for path, method, operation in operations(schema):
        assert operation["security"] == [{"ApiKey": []}], (method, path)
        assert operation["x-required-scope"], (method, path)


def test_every_operation_documents_its_problem_responses(client):
    schema = schema_of(client)
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert "errors" in problem["properties"]
    for path, method, operation in operations(schema):
        expected = {"401", "403", "429"}
        if "{" in path:
            expected.add("404")
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        for status in expected:
            response = operation["responses"].get(status)
            assert response, f"{method} {path} does not document {status}"
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}


def test_lists_document_cursor_pagination(client):
    schema = schema_of(client)
    operation = schema["paths"]["/api/v1/merchants/"]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    assert any(p["name"] == "cursor" for p in operation["parameters"])
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page_schema = schema["components"]["schemas"][page.rsplit("/", 1)[1]]
    assert {"next", "previous", "results"} <= page_schema["properties"].keys()


def test_the_description_lists_the_stable_error_codes(client):
    description = schema_of(client)["info"]["description"]
    for code in (
        "not_found",
        "permission_denied",
        "validation_error",
        "idempotency_key_reused",
        "rate_limited",
    ):
        assert f"`{code}`" in description


@pytest.mark.urls("tests.api.urls_testviews")
def test_an_idempotent_post_documents_its_header_and_conflicts(client):
    schema = schema_of(client)
    operation = schema["paths"]["/api/v1/test/orders/{id}/notes/"]["post"]
    header = next(p for p in operation["parameters"] if p["in"] == "header")
    assert header["name"] == "Idempotency-Key"
    assert not header.get("required", False)
    assert {"400", "401", "403", "404", "409", "415", "422"} <= operation["responses"].keys()
    assert "idempotency_key_reused" in operation["responses"]["409"]["description"]
    assert operation["x-required-scope"] == "orders:write"
    assert "`orders:write`" in operation["description"]
    plain = schema["paths"]["/api/v1/test/refunds-only/"]["get"]
    assert not any(p["in"] == "header" for p in plain.get("parameters", []))
    assert plain["x-required-scope"] == "refunds:read"


def test_the_swagger_ui_is_public_and_offline(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/schema/" in html
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert any("drf_spectacular_sidecar/swagger-ui-dist" in a for a in assets), assets
    for asset in assets:
        assert finders.find(asset.split("?")[0]), f"{asset} is not a local static file"
    assert "cdn." not in html and "unpkg" not in html


def test_redoc_is_public_and_offline(client):
    response = client.get("/api/v1/redoc/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/redoc" in html
