"""Sections of the partner API's order detail that apps above orders contribute.

``GET /api/v1/orders/{id}/`` shows the order's fulfillment orders, fulfillments and refunds
(api.md), which belong to fulfillment and refunds. Each of those apps registers its section in
its ``AppConfig.ready`` (name, list serializer, how to read the rows); the order detail
serializer adds one read-only field per section, in registration order, and the OpenAPI schema
documents each with its serializer. Orders import none of them. A section may also give a
``Prefetch`` (a function making one for each query) for the detail's query: its rows are then
read with the order, and the app can answer other questions about the order (R6) from the same
rows instead of another query.

A section may also name the model of its rows (``rows_of``, linked to the order by its ``order``
foreign key): the order's own statement then tells whether the order has any. Most orders have
no refunds, and no fulfillment orders when their merchant has no fulfillment service: such a
section costs no statement of its own (its prefetch is not run, and is left as read and empty,
so the app's other answers from it need no query either).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Expression, Model, Prefetch, prefetch_related_objects
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.models import Order


@dataclass(frozen=True)
class DetailSection:
    name: str
    serializer_class: type[serializers.BaseSerializer]
    rows: Callable[[Order], Iterable[Any]]
    prefetch: Callable[[], Prefetch] | None = None
    rows_of: type[Model] | None = None

    @property
    def presence_attribute(self) -> str:
        return f"section_{self.name}_present"

    def known_empty(self, order: Order) -> bool:
        """The order's statement said it has no rows in this section."""
        return getattr(order, self.presence_attribute, None) is False


_sections: dict[str, DetailSection] = {}


def register(
    name: str,
    serializer_class: type[serializers.BaseSerializer],
    rows: Callable[[Order], Iterable[Any]],
    *,
    prefetch: Callable[[], Prefetch] | None = None,
    rows_of: type[Model] | None = None,
) -> None:
    existing = _sections.get(name)
    if existing is not None and existing.serializer_class is not serializer_class:
        raise ValueError(f"the order detail already has a section named {name!r}")
    if prefetch is not None and "__" in prefetch().prefetch_to:
        raise ValueError(f"section {name!r}: a prefetch of the order's own relation, not deeper")
    _sections[name] = DetailSection(name, serializer_class, rows, prefetch, rows_of)


def sections() -> list[DetailSection]:
    return list(_sections.values())


def presence() -> dict[str, Expression]:
    """Annotations for the order detail's statement: whether the order has rows in each
    section that names its model."""
    return {
        section.presence_attribute: HasRows(section.rows_of)
        for section in _sections.values()
        if section.rows_of is not None
    }


class HasRows(Expression):
    """``EXISTS`` a row of ``model`` whose ``order`` is the outer query's order (an order
    query's annotation). Written as SQL: three ORM ``Exists`` subqueries took longer to build
    and compile (1.9 ms a request) than the statements they save. The rows are found by the
    key every tenant table has, ``(merchant_id, order_id)``; row-level security applies."""

    output_field = BooleanField()

    def __init__(self, model: type[Model]) -> None:
        super().__init__()
        self.model = model

    def as_sql(self, compiler, connection):
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        order_id = quote(self.model._meta.get_field("order").column)
        outer = quote(compiler.query.base_table)
        return (
            f"EXISTS (SELECT 1 FROM {table} WHERE {table}.merchant_id = {outer}.merchant_id "
            f"AND {table}.{order_id} = {outer}.id)",
            [],
        )


def read_sections(order: Order) -> None:
    """Read with the order (after its statement, annotated with ``presence()``) the prefetched
    sections it has rows in; the ones it has none in are left as read and empty."""
    wanted = []
    for section in _sections.values():
        if section.prefetch is None:
            continue
        prefetch = section.prefetch()
        if section.known_empty(order):
            # As prefetch_related leaves a relation it read: the manager answers from the
            # cache, here an empty queryset, which runs no query.
            related = getattr(order, prefetch.prefetch_to)
            cache = order.__dict__.setdefault("_prefetched_objects_cache", {})
            cache[prefetch.prefetch_to] = related.none()
        else:
            wanted.append(prefetch)
    if wanted:
        prefetch_related_objects([order], *wanted)


class SectionField(serializers.Field):
    """One contributed section: the rows of the order, serialized as a list."""

    def __init__(self, section: DetailSection, **kwargs: Any) -> None:
        self.section = section
        super().__init__(read_only=True, source="*", **kwargs)
        # The schema shows the section's own serializer, not an opaque value.
        extend_schema_field(section.serializer_class(many=True))(self)

    def to_representation(self, order: Order) -> list[dict]:
        if self.section.known_empty(order):
            return []
        rows = self.section.rows(order)
        return self.section.serializer_class(rows, many=True, context=self.context).data


def section_fields() -> dict[str, SectionField]:
    return {section.name: SectionField(section) for section in sections()}
