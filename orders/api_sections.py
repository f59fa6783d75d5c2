"""Sections of the partner API's order detail that apps above orders contribute.

``GET /api/v1/orders/{id}/`` shows the order's fulfillment orders, fulfillments and refunds
(api.md), which belong to fulfillment and refunds. Each of those apps registers its section in
its ``AppConfig.ready`` (name, list serializer, how to read the rows); the order detail
serializer adds one read-only field per section, in registration order, and the OpenAPI schema
documents each with its serializer. Orders import none of them. A section may also give a
``Prefetch`` (a function making one for each query) for the detail's query: its rows are then
read with the order, and the app can answer other questions about the order (R6) from the same
rows instead of another query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.models import Order


@dataclass(frozen=True)
class DetailSection:
    name: str
    serializer_class: type[serializers.BaseSerializer]
    rows: Callable[[Order], Iterable[Any]]
    prefetch: Callable[[], Prefetch] | None = None


_sections: dict[str, DetailSection] = {}


def register(
    name: str,
    serializer_class: type[serializers.BaseSerializer],
    rows: Callable[[Order], Iterable[Any]],
    *,
    prefetch: Callable[[], Prefetch] | None = None,
) -> None:
    existing = _sections.get(name)
    if existing is not None and existing.serializer_class is not serializer_class:
        raise ValueError(f"the order detail already has a section named {name!r}")
    _sections[name] = DetailSection(name, serializer_class, rows, prefetch)


def sections() -> list[DetailSection]:
    return list(_sections.values())


def prefetches() -> list[Prefetch]:
    """What the order detail's query reads with the order for the sections."""
    return [section.prefetch() for section in _sections.values() if section.prefetch is not None]


class SectionField(serializers.Field):
    """One contributed section: the rows of the order, serialized as a list."""

    def __init__(self, section: DetailSection, **kwargs: Any) -> None:
        self.section = section
        super().__init__(read_only=True, source="*", **kwargs)
        # The schema shows the section's own serializer, not an opaque value.
        extend_schema_field(section.serializer_class(many=True))(self)

    def to_representation(self, order: Order) -> list[dict]:
        rows = self.section.rows(order)
        return self.section.serializer_class(rows, many=True, context=self.context).data


def section_fields() -> dict[str, SectionField]:
    return {section.name: SectionField(section) for section in sections()}
