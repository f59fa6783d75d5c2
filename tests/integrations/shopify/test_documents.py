"""Every document the gateway can send is valid GraphQL against the emulator's schema subset
(Shopify's names), checked by graphql-core's validation, not by matching strings."""

from __future__ import annotations

import pytest
from graphql import OperationDefinitionNode, parse, validate

from integrations.shopify.documents import ALL_DOCUMENTS
from sandbox.shopify.cost import SINGLE_QUERY_MAX, CostCalculator
from sandbox.shopify.graphql_api import schema


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_every_gateway_document_validates_against_the_schema(name):
    document = parse(ALL_DOCUMENTS[name])
    assert validate(schema(), document) == []
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert operation.name.value == name


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_every_gateway_document_costs_less_than_shopifys_single_query_maximum(name):
    document = parse(ALL_DOCUMENTS[name])
    fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    cost = CostCalculator(schema(), fragments, {"first": 50}).operation(operation)
    assert 0 < cost < SINGLE_QUERY_MAX


def test_validation_would_catch_a_field_shopify_does_not_have():
    document = parse(ALL_DOCUMENTS["shop"].replace("ianaTimezone", "timezoneName"))
    [error] = validate(schema(), document)
    assert "timezoneName" in error.message
