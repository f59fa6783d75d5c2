"""DRF's output, built with less work per field: for pages of 50 to 200 rows.

A ModelSerializer represents a row field by field through ``get_attribute`` and
``to_representation``, with timezone handling looked up again for every datetime: on an order
list page that was most of the request (docs/benchmarks.md, "API at scale").
``DirectRepresentation`` plans each field once per serializer instance (so once per page) and
reads plain model columns directly; the output is DRF's, value for value
(tests/foundation/test_direct_representation.py compares them). Anything else (relations,
nested serializers, method fields, decimals, dotted sources) goes through DRF as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import fields as drf
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

_Step = tuple[str, str | None, Callable[[Any], Any] | None, drf.Field]


def _datetime(field: drf.DateTimeField) -> Callable[[Any], Any] | None:
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != drf.ISO_8601:
        return None
    tz = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if tz is None:
        return None

    def convert(value):
        if isinstance(value, str) or value.utcoffset() is None:  # as DRF: str as is, naive
            return field.to_representation(value)
        try:
            text = value.astimezone(tz).isoformat()
        except OverflowError:
            return field.to_representation(value)  # DRF's error
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


def _choice(field: drf.ChoiceField) -> Callable[[Any], Any]:
    lookup = field.choice_strings_to_values

    def convert(value):
        return value if value == "" else lookup.get(str(value), value)

    return convert


def _boolean(field: drf.BooleanField) -> Callable[[Any], Any]:
    def convert(value):
        return value if value.__class__ is bool else field.to_representation(value)

    return convert


def _converter(field: drf.Field) -> Callable[[Any], Any] | None:
    kind = type(field)
    if kind is drf.IntegerField:
        return int
    if kind is drf.CharField:
        return str
    if kind is drf.BooleanField:
        return _boolean(field)
    if kind is drf.ChoiceField:
        return _choice(field)
    if kind is drf.DateTimeField:
        return _datetime(field)
    return None


class DirectRepresentation:
    """Mix into a ModelSerializer (before it) to represent plain columns directly."""

    def _direct_plan(self) -> list[_Step]:
        columns = {
            name
            for f in self.Meta.model._meta.concrete_fields
            for name in (f.name, f.attname)
            if not f.is_relation or name == f.attname
        }
        plan: list[_Step] = []
        for field in self._readable_fields:
            attrs = field.source_attrs
            convert = _converter(field) if len(attrs) == 1 and attrs[0] in columns else None
            if convert is None:
                plan.append((field.field_name, None, None, field))
            else:
                plan.append((field.field_name, attrs[0], convert, field))
        return plan

    def to_representation(self, instance):
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self.__dict__["_plan"] = self._direct_plan()
        ret = {}
        for name, attname, convert, field in plan:
            if convert is not None:
                value = getattr(instance, attname)
                ret[name] = None if value is None else convert(value)
                continue
            # DRF's own path (Serializer.to_representation).
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check_for_none is None else field.to_representation(attribute)
        return ret
