"""Filter sets for API lists."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError


class StrictFilterSet(django_filters.FilterSet):
    """A typed filter given with an empty value (`?updated_after=`) is an error, not "no
    filter": a client that sent it meant something, and silently listing everything would
    hide its bug. Text filters (search) may be empty.

    The form class is built once per filter set class, as Django builds a form's fields once
    per class: django-filter makes a new class, with every filter's form field, for each
    request (a third of a list request's own work; docs/benchmarks.md, "API at scale"). Each
    form still gets its own copies of the fields, and their messages stay lazy (translated in
    the reader's language when shown)."""

    def get_form_class(self):
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = cls._form_class = super().get_form_class()
        return form_class

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            if isinstance(filter_, django_filters.CharFilter) and not isinstance(
                filter_, django_filters.ChoiceFilter
            ):
                continue
            if name in self.data and self.data.get(name, None) in ("",):
                self.form.add_error(name, _("Give a value, or leave the parameter out."))
                valid = False
        return valid


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """`true` or `false`, nothing else (django-filter's BooleanFilter reads `null`, `unknown`
    and anything it does not know as "no filter")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    """A whole number (ids): `1.5` is an error, not a rounded id."""

    field_class = forms.IntegerField


class TextFilter(django_filters.CharFilter):
    """Free text (a search), documented as what the form field checks: at most `max_length`
    characters and no NUL character ("Null characters are not allowed."); may be empty."""

    def __init__(self, *args, max_length: int, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)
        extend_schema_field(
            {"type": "string", "maxLength": max_length, "pattern": "^[^\\u0000]*$"}
        )(self)


class _UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    def clean(self, value):
        parsed = super().clean(value)
        if parsed is None:
            return None
        try:
            # Any offset the client sends, stored and compared in UTC (PostgreSQL refuses
            # offsets beyond ±15:59, which RFC 3339 allows).
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError(_("This time is out of range.")) from exc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An RFC 3339 time in any offset, compared in UTC."""

    field_class = _UtcIsoDateTimeField


class StrictDjangoFilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing query parameters the endpoint does not know: a typo
    (`?statuss=Pending`) is a 400 naming it, not a silently unfiltered list. Each parameter is
    one value (the schema's `merchant` is an integer, not a list): given twice
    (`?merchant=1&merchant=2`) it is a 400 too, where Django would silently take the last."""

    def filter_queryset(self, request, queryset, view):
        known: set[str] = set()
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        paginator = getattr(view, "paginator", None)
        for attribute in ("cursor_query_param", "page_size_query_param", "page_query_param"):
            name = getattr(paginator, attribute, None)
            if name:
                known.add(name)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            hint = ", ".join(sorted(known)) or "none"
            raise ValidationError(
                {
                    name or _("(empty name)"): [
                        _("Unknown query parameter. Known: %(hint)s.") % {"hint": hint}
                    ]
                    for name in unknown
                }
            )
        repeated = sorted(
            name for name in request.query_params if len(request.query_params.getlist(name)) > 1
        )
        if repeated:
            raise ValidationError({name: [_("Give this parameter once.")] for name in repeated})
        if filterset_class is not None and set(filterset_class.base_filters).isdisjoint(
            request.query_params
        ):
            # No filter asked for: every filter would let the list through unchanged.
            return queryset
        return super().filter_queryset(request, queryset, view)
