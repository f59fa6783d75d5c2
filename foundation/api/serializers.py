"""DRF's output, built with less work per field: for pages of 50 to 200 rows.

A ModelSerializer represents a row field by field through ``get_attribute`` and
``to_representation``, with timezone handling looked up again for every datetime: on an order
list page that was most of the request (docs/benchmarks.md, "API at scale").
``DirectRepresentation`` plans each field once per serializer instance (so once per page) and
reads plain model columns directly; the output is DRF's, value for value
(tests/foundation/test_direct_representation.py compares them). Anything else (relations,
nested serializers, method fields, decimals, dotted sources) goes through DRF as before.

A list of plain columns need not build model instances at all: ``represent_rows`` takes the
rows of ``.values(*row_columns())`` and gives the same output, with the serializer's fields
built once per process instead of once per request (DRF's ``ModelSerializer.get_fields`` maps
every model field again for each serializer instance). ``FieldsBuiltOnce`` does the same for a
serializer that represents instances (an order detail and its sections).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import fields as drf
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.serializers import BaseSerializer
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


class FieldsBuiltOnce:
    """Mix into an output serializer (before it): its fields are built once per class.

    DRF builds every field of a ModelSerializer again for each serializer instance (the model
    field's kwargs, validators, choices), and a nested or many serializer does it again for its
    child: on an order detail that was a third of the request. Here the fields built the first
    time are kept unbound, as prototypes, and each instance binds copies of them: a shallow copy
    of a scalar field (its settings are not changed once built; binding sets the copy's own
    name, parent and source), a deep copy of a nested serializer (it binds children of its own).
    Only for serializers whose fields do not depend on the instance, request or context."""

    def build_fields(self) -> dict[str, drf.Field]:
        """The fields, built (once per class); extend this, not ``get_fields``."""
        return super().get_fields()

    def get_fields(self):
        cls = type(self)
        prototypes = cls.__dict__.get("_field_prototypes")
        if prototypes is None:
            prototypes = cls._field_prototypes = self.build_fields()
        return {
            name: copy.deepcopy(field) if isinstance(field, BaseSerializer) else copy.copy(field)
            for name, field in prototypes.items()
        }


class DirectRepresentation:
    """Mix into a ModelSerializer (before it) to represent plain columns directly."""

    def _direct_plan(self) -> list[_Step]:
        columns = _columns(self.Meta.model)
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

    @classmethod
    def row_columns(cls) -> tuple[str, ...]:
        """The columns to read with ``.values()`` for ``represent_rows``."""
        return tuple(column for _, column, _ in cls._row_fields())

    @classmethod
    def represent_rows(cls, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """DRF's representation of each row of ``.values(*row_columns())``."""
        # The converters are made per call: a datetime's output depends on the current time zone.
        steps = [
            (name, column, _converter(field) or field.to_representation)
            for name, column, field in cls._row_fields()
        ]
        return [
            {
                name: None if (value := row[column]) is None else convert(value)
                for name, column, convert in steps
            }
            for row in rows
        ]

    @classmethod
    def _row_fields(cls) -> list[tuple[str, str, drf.Field]]:
        """(output name, column, bound field) of every readable field, built once per class.

        Only plain columns qualify; a field that needs the instance (a method field, a
        relation, a nested serializer, a dotted source) is a configuration error, not a
        silently different output."""
        cached = cls.__dict__.get("_row_fields_cache")
        if cached is not None:
            return cached
        model = cls.Meta.model
        columns = _columns(model)
        planned = []
        for field in cls()._readable_fields:
            attrs = field.source_attrs
            if len(attrs) != 1 or attrs[0] not in columns or not _is_plain(field):
                raise ImproperlyConfigured(
                    f"{cls.__name__}.{field.field_name} is not a plain column of "
                    f"{model.__name__}: it cannot be represented from .values() rows"
                )
            planned.append((field.field_name, columns[attrs[0]], field))
        cls._row_fields_cache = planned
        return planned


@functools.cache
def _columns(model: type) -> dict[str, str]:
    """A model's plain columns: field name or attname to attname (a foreign key by its id)."""
    return {
        name: f.attname
        for f in model._meta.concrete_fields
        for name in (f.name, f.attname)
        if not f.is_relation or name == f.attname
    }


def _is_plain(field: drf.Field) -> bool:
    """A scalar field whose output depends on the column's value alone."""
    from rest_framework.relations import RelatedField

    return (
        not isinstance(
            field, BaseSerializer | RelatedField | drf.SerializerMethodField | drf.HiddenField
        )
        and type(field).to_representation is not drf.Field.to_representation
    )
