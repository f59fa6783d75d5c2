"""The OpenAPI 3 document and the offline docs: public, valid, and describing auth, scopes,
problem+json errors, pagination and Idempotency-Key for every operation."""

from __future__ import annotations

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import _load_enum_name_overrides
from drf_spectacular.settings import patched_settings
from openapi_spec_validator import validate
from rest_framework import serializers

from portal.api.links import LINKS, operations_by_key
from tests.api.fuzz_seed import seed_tenant
from tests.support.openapi import body_errors

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


# --- enums: one name per choice set, and each field's enum is its own (issue 14) -------------


def _enum_values(node: dict, components: dict) -> set | None:
    """The values an enum property allows (through $ref, allOf, oneOf), or None if none."""
    if "$ref" in node:
        return _enum_values(components[node["$ref"].rsplit("/", 1)[1]], components)
    values: set | None = set(node["enum"]) if "enum" in node else None
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(key, []):
            found = _enum_values(sub, components)
            if found is not None:
                values = (values or set()) | found
    if values is not None and node.get("nullable"):
        values.add(None)
    return values


def enum_mismatches(generator, schema: dict) -> list[str]:
    """Every choice field of every serializer in the schema whose enum is not its choice set
    (drf-spectacular names an enum after its field, so two fields can share a name and one
    of them the other's values)."""
    components = schema["components"]["schemas"]
    problems = []
    for (name, _kind), component in generator.registry._components.items():
        serializer = component.object
        properties = components.get(name, {}).get("properties", {})
        if not isinstance(serializer, serializers.BaseSerializer) or not properties:
            continue
        for field_name, field in serializer.fields.items():
            if not isinstance(field, serializers.ChoiceField) or field_name not in properties:
                continue
            property_schema = properties[field_name]
            if property_schema.get("type") == "array":
                property_schema = property_schema["items"]
            allowed = _enum_values(property_schema, components)
            expected = set(field.choices)
            expected |= {""} if field.allow_blank else set()
            expected |= {None} if field.allow_null else set()
            if allowed != expected:
                problems.append(f"{name}.{field_name}: schema {allowed}, field {expected}")
    return problems


def _generated_schema():
    generator = SchemaGenerator()
    return generator, generator.get_schema(request=None, public=True)


def test_every_choice_field_refers_to_an_enum_of_exactly_its_choices():
    generator, schema = _generated_schema()
    assert enum_mismatches(generator, schema) == []


def test_without_explicit_enum_names_two_choice_sets_collapse_under_one_name():
    # Why ENUM_NAME_OVERRIDES names every enum: left to drf-spectacular, an order's
    # `fulfillment_status` and a fulfillment's `status` are both "FulfillmentStatusEnum", and
    # the order's field lists only "shipped" (a generated client refused "unfulfilled").
    _load_enum_name_overrides.cache_clear()
    try:
        with patched_settings({"ENUM_NAME_OVERRIDES": {}}):
            generator, schema = _generated_schema()
    finally:
        _load_enum_name_overrides.cache_clear()
    problems = enum_mismatches(generator, schema)
    assert any(p.startswith("Order.fulfillment_status: schema {'shipped'}") for p in problems)


def test_every_enum_component_is_named_explicitly(client):
    named = set(settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])
    components = schema_of(client)["components"]["schemas"]
    enums = {name for name, component in components.items() if "enum" in component}
    # BlankEnum and NullEnum are drf-spectacular's own "" and null alternatives.
    assert enums - {"BlankEnum", "NullEnum"} == named


# --- links for clients and the stateful fuzzer ------------------------------------------------


def test_every_link_resolves_to_an_operation_and_its_parameters(client):
    schema = schema_of(client)
    operations = operations_by_key(schema)
    by_id = {operation["operationId"]: operation for operation in operations.values()}
    assert {link.source for link in LINKS} | {link.target for link in LINKS} <= set(operations)
    for link in LINKS:
        declared = operations[link.source]["responses"][link.status]["links"][link.name]
        target = by_id[declared["operationId"]]
        names = {p["name"] for p in target.get("parameters", [])}
        assert set(declared["parameters"]) <= names, (link.name, declared)
        required_path = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert required_path <= set(declared["parameters"]), (link.name, declared)


# --- what the API answers is what the schema says --------------------------------------------


def test_every_read_of_orders_fulfillments_and_refunds_matches_the_schema(client, call):
    """Every GET operation over seeded data in every state (tests/api/fuzz_seed.py), with a
    merchant's key and a service's: each body validates against the schema, every enum value
    included (an order's `fulfillment_status` "unfulfilled" was outside its enum, a refund's
    `cancel_reason` "" too)."""
    tenant = seed_tenant("Schema Goods")
    schema = schema_of(client)
    ids = {
        "orders": [order.pk for order in tenant.orders.values()],
        "fulfillment-orders": [fo.pk for fo in tenant.fulfillment_orders.values()],
        "refunds": tenant.refund_ids,
        "merchants": [tenant.merchant.pk],
    }
    checked = 0
    for path, method, _operation in operations(schema):
        if method != "get":
            continue
        resource = path.removeprefix("/api/v1/").split("/")[0]
        urls = [path.replace("{id}", str(pk)) for pk in ids[resource]] if "{id}" in path else [path]
        for key in (tenant.merchant_key, tenant.service_key):
            for url in urls:
                response = call("get", url, key=key)
                if response.status_code == 403:  # the service's key reads no orders
                    continue
                assert response.status_code == 200, (url, response.content[:300])
                assert body_errors(schema, path, "get", 200, response.json()) == [], url
                checked += 1
    assert checked > 40


def _evaluate(expression, body):
    """A link's runtime expression (`$response.body#/lines/0/id`) against a response body."""
    if isinstance(expression, dict):
        return {key: _evaluate(value, body) for key, value in expression.items()}
    if isinstance(expression, list):
        return [_evaluate(value, body) for value in expression]
    if not (isinstance(expression, str) and expression.startswith("$response.body#/")):
        return expression
    node = body
    for part in expression.split("#/", 1)[1].split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_following_the_links_walks_from_a_list_to_a_cancellation_and_a_shipment(client, call):
    """The links are right, not only present: followed by hand as a client (or schemathesis'
    stateful phase) would, from the lists to a cancellation and its refund, and through a
    fulfillment order's request, acceptance and shipment."""
    tenant = seed_tenant("Linked Goods")
    schema = schema_of(client)
    operations = operations_by_key(schema)
    by_id = {operation["operationId"]: key for key, operation in operations.items()}

    def follow(source: str, response, name: str, key: str, **body):
        assert response.status_code < 300, (source, response.content[:300])
        status = str(response.status_code)
        link = operations[source]["responses"][status]["links"][name]
        target = by_id[link["operationId"]]
        method, path = target.split(" ", 1)
        values = _evaluate(link["parameters"], response.json())
        url = "/api/v1" + path.replace("{id}", str(values.pop("id", "")))
        data = {**_evaluate(link.get("requestBody", {}), response.json()), **body}
        if method == "GET":
            return target, call("get", url, key=key, data=values)
        return target, call("post", url, key=key, data=data)

    merchant, service = tenant.merchant_key, tenant.service_key
    step = ("GET /orders/", call("get", "/api/v1/orders/", key=merchant))
    step = follow(*step, "Order", merchant)
    assert step[1].json()["id"] == tenant.orders["unfulfilled"].pk  # the newest first
    step = follow(*step, "CancelFirstLine", merchant, reason="NoInventory", refund="1.00")
    assert step[1].status_code == 201 and step[1].json()["kind"] == "cancellation"
    step = follow(*step, "Refund", merchant)
    assert step[1].json()["total"] == "1.00"
    step = follow(*step, "Order", merchant)
    assert [r["kind"] for r in step[1].json()["refunds"]] == ["cancellation"]

    requested = tenant.fulfillment_orders["requested"]
    step = (
        "GET /fulfillment-orders/{id}/",
        call("get", f"/api/v1/fulfillment-orders/{requested.pk}/", key=service),
    )
    step = follow(*step, "AcceptRequest", service)
    assert step[1].json()["request_status"] == "accepted"
    step = follow(*step, "FulfillmentOrder", service)
    step = follow(*step, "ReportShipment", service, tracking_number="1Z999", carrier="UPS")
    assert step[1].status_code == 201 and step[1].json()["lines"][0]["quantity"] == 1
    step = follow(*step, "FulfillmentOrder", service)
    assert step[1].json()["status"] == "in_progress"  # one of three units shipped
