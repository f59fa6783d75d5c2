"""Cursor pagination for every list: `?limit=` (max 200) and an opaque `next` URL (api.md).

Pages are ``{"next": url|null, "previous": url|null, "results": [...]}``. The cursor is DRF's
(base64 of a position in the ordering), so pages are stable under inserts. Bad input is a 400
``validation_error``, never a 404 or a 500: a `limit` outside 1..200, a cursor that does not
decode, or one whose position does not fit the ordering field.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, pagination

INVALID_CURSOR = _("This cursor is not valid: follow the `next` or `previous` link of a page.")


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    # Newest first, with the primary key as tie-breaker so pages are stable under inserts.
    ordering = ("-id",)
    invalid_cursor_message = INVALID_CURSOR

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        _("Use a whole number from 1 to %(max_page_size)s.")
                        % {"max_page_size": self.max_page_size}
                    ]
                }
            )
        return int(raw)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise self._invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _invalid_cursor(self) -> exceptions.ValidationError:
        return exceptions.ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def _check_position(self, position: str) -> None:
        """A forged cursor must not reach the database with a value its column cannot hold."""
        model = getattr(self, "_model", None)
        if model is None:
            return
        name = self.ordering[0].lstrip("-")
        try:
            field = model._meta.get_field("id" if name == "pk" else name)
        except FieldDoesNotExist:
            return
        try:
            value = field.to_python(position)
        except (DjangoValidationError, TypeError, ValueError):
            raise self._invalid_cursor() from None
        bounds = connection.ops.integer_field_ranges.get(field.get_internal_type())
        if bounds and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
            raise self._invalid_cursor()

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Number of results per page, 1 to {self.max_page_size} "
                    f"(default {self.page_size})."
                )
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = (
                    "Opaque cursor of a page: take it from the `next` or `previous` link; "
                    "never build one yourself."
                )
        return parameters
