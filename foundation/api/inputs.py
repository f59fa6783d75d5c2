"""Request bodies that accept exactly what the OpenAPI schema says they accept.

DRF is lenient where the published schema is not, and a generated client (or a fuzzer) finds
every gap:

- ``CharField`` turns ``123`` and ``1.5`` into ``"123"``; ``IntegerField`` reads ``"5"`` as 5;
  ``BooleanField`` reads ``"yes"``, ``"1"`` and ``1`` as true. The schema says ``string``,
  ``integer``, ``boolean``: the strict fields below refuse any other JSON type with
  ``400 validation_error`` (``Not a valid string.``, ...).
- ``Item(many=True, allow_null=True)`` passes ``allow_null`` (and ``required``, ``default``)
  to every item as well as to the list, so ``"lines": [null]`` passed validation and reached
  the use case as ``None`` (a 500). ``InputSerializer.many_init`` gives the list its own
  options and leaves each item required and not nullable.

Every request body of the API is an ``InputSerializer`` built from these fields
(tests/api/test_inputs.py walks the schema's request bodies to keep it so).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.settings import api_settings

NO_NUL = r"^[^\u0000]*$"
NOT_BLANK_NO_NUL = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"

# What `many=True` options mean for the list as a whole; DRF also gives most of them to each
# item (rest_framework.serializers.LIST_SERIALIZER_KWARGS).
_LIST_OPTIONS = (
    "read_only",
    "write_only",
    "required",
    "default",
    "initial",
    "source",
    "label",
    "help_text",
    "style",
    "error_messages",
    "allow_empty",
    "allow_null",
    "max_length",
    "min_length",
    "instance",
    "data",
    "partial",
    "context",
)


class InputList(serializers.ListSerializer):
    """A list of objects in a request body: its own errors (not a list, too few, too many) are
    the list's (``"lines": [...]``), not ``"lines.non_field_errors"``."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict) and set(detail) == {api_settings.NON_FIELD_ERRORS_KEY}:
                raise serializers.ValidationError(
                    detail[api_settings.NON_FIELD_ERRORS_KEY]
                ) from exc
            raise


class InputSerializer(serializers.Serializer):
    """A request body, or an object inside one."""

    @classmethod
    def many_init(cls, *args, **kwargs) -> serializers.ListSerializer:
        unknown = set(kwargs) - {"many", *_LIST_OPTIONS}
        if unknown:
            raise TypeError(f"{cls.__name__}(many=True) does not take {sorted(unknown)}")
        list_options = {key: value for key, value in kwargs.items() if key in _LIST_OPTIONS}
        # The item: required, not nullable, no default: `[null]` and `[{}]` are refused.
        return InputList(*args, child=cls(), **list_options)


class _StringOnly:
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(_StringOnly, serializers.CharField):
    """A JSON string; a number or a boolean is refused (DRF would turn it into a string)."""

    @property
    def openapi_pattern(self) -> str:
        """What DRF checks of the text, for the schema (portal.api.schema): no NUL character
        (PostgreSQL cannot store it: "Null characters are not allowed."), and unless blank is
        allowed, something besides whitespace (trimmed first: "This field may not be
        blank.")."""
        if not self.allow_blank and self.trim_whitespace:
            return NOT_BLANK_NO_NUL
        return NO_NUL


class StrictRegexField(_StringOnly, serializers.RegexField):
    """A JSON string matching the pattern; a number is refused even when its digits match."""


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer; ``"5"``, ``5.0`` and ``true`` are refused (DRF reads them as 5 and 1)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false``; ``"true"``, ``"yes"``, ``1`` and ``"on"`` are refused."""

    default_error_messages = {"invalid": _("Must be true or false.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data
