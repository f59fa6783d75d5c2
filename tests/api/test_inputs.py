"""Request bodies accept what their schema says, and nothing DRF would coerce into it
(foundation.api.inputs; issue 14, found by schemathesis): no number for a string, no string for
an integer or a boolean, no null item in a list of objects. Every request body of the API is
walked, so one added later with a plain DRF field fails here."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from foundation.api.errors import flatten_errors
from foundation.api.inputs import (
    InputList,
    InputSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictRegexField,
)

STRICT = (StrictCharField, StrictRegexField, StrictIntegerField, StrictBooleanField)
LENIENT = (serializers.CharField, serializers.IntegerField, serializers.BooleanField)


class Line(InputSerializer):
    line = StrictIntegerField(min_value=1)
    quantity = StrictIntegerField(required=False)


class Body(InputSerializer):
    note = StrictCharField(required=False, allow_blank=True)
    amount = StrictRegexField(r"^\d+(\.\d+)?$", required=False)
    notify = StrictBooleanField(required=False)
    lines = Line(many=True, required=False, allow_null=True, default=None, min_length=1)


def errors_of(data: dict) -> dict[str, list[str]]:
    body = Body(data=data)
    assert not body.is_valid(), body.validated_data
    return flatten_errors(body.errors)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"note": 123}, "note"),
        ({"note": 1.5}, "note"),
        ({"note": True}, "note"),
        ({"amount": 12}, "amount"),
        ({"notify": "true"}, "notify"),
        ({"notify": 1}, "notify"),
        ({"lines": [{"line": "5"}]}, "lines[0].line"),
        ({"lines": [{"line": 5.0}]}, "lines[0].line"),
        ({"lines": [{"line": True}]}, "lines[0].line"),
        ({"lines": [None]}, "lines[0]"),
        ({"lines": [{"line": 1}, None]}, "lines[1]"),
        ({"lines": [{"line": None}]}, "lines[0].line"),
        ({"lines": [{}]}, "lines[0].line"),
        ({"lines": []}, "lines"),
        ({"lines": "1"}, "lines"),
    ],
)
def test_a_value_the_schema_does_not_allow_is_refused_on_its_field(data, field):
    assert list(errors_of(data)) == [field]


def test_what_the_schema_allows_is_accepted_as_given():
    body = Body(data={"note": "", "amount": "12.50", "notify": False, "lines": None})
    assert body.is_valid(), body.errors
    assert body.validated_data == {"note": "", "amount": "12.50", "notify": False, "lines": None}
    body = Body(data={"lines": [{"line": 1, "quantity": 2}]})
    assert body.is_valid(), body.errors
    assert body.validated_data["lines"] == [{"line": 1, "quantity": 2}]


def test_the_options_of_a_list_are_the_lists_alone():
    # DRF's many=True gives allow_null, required and default to every item too.
    lines = Body().fields["lines"]
    assert isinstance(lines, InputList)
    assert (lines.allow_null, lines.required, lines.min_length) == (True, False, 1)
    assert (lines.child.allow_null, lines.child.required) == (False, True)


def _request_serializers():
    generator = SchemaGenerator()
    generator.get_schema(request=None, public=True)
    for (name, _kind), component in generator.registry._components.items():
        if name.endswith("Request") and isinstance(component.object, serializers.BaseSerializer):
            yield name, component.object


def _fields(serializer, prefix=""):
    for name, field in serializer.fields.items():
        yield f"{prefix}{name}", field
        if isinstance(field, serializers.ListSerializer):
            yield from _fields(field.child, f"{prefix}{name}[].")
        elif isinstance(field, serializers.Serializer):
            yield from _fields(field, f"{prefix}{name}.")


@pytest.mark.django_db
def test_every_request_body_of_the_api_is_strict():
    walked = []
    for name, serializer in _request_serializers():
        assert isinstance(serializer, InputSerializer), name
        for path, field in _fields(serializer):
            walked.append(f"{name}.{path}")
            if isinstance(field, LENIENT):
                assert isinstance(field, STRICT), f"{name}.{path} is DRF's lenient {type(field)}"
            if isinstance(field, serializers.ListSerializer):
                assert isinstance(field, InputList), f"{name}.{path}"
                assert not field.child.allow_null, f"{name}.{path}"
    assert "RefundInputRequest.lines[].quantity" in walked
    assert "ShipmentReportInputRequest.tracking_number" in walked
