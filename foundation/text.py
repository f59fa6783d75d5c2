"""Messages a person reads, written where the rule is and translated where they are shown.

The pure rule modules (orders.policy, fulfillment.workflow, refunds.policy) import no Django, so
they cannot call gettext. They mark their messages with ``N_("... %(name)s ...", name=value)``
instead: the result is a ``Text``, a ``str`` holding the English message (so logs, tests and
code comparing strings see what they always saw) that also keeps its template and parameters.
Where the message reaches a person (the portal, the API's problem ``detail``, a notification) it
is translated into the reader's language by ``foundation.i18n.localize``; in HTML templates it
translates itself (``__html__``, through the translator ``foundation.apps`` installs).

``makemessages`` extracts ``N_`` (foundation's makemessages command adds the keyword), and
parameters that are instants or amounts (``When``, ``Amount``) are formatted for the reader's
language at the same time. This module imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from foundation.money import minor_units

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class When:
    """An instant as read in a time zone; English: ``Tue 10 Mar 2026, 08:00 EDT``."""

    __slots__ = ("instant", "time_zone")

    def __init__(self, instant: datetime, time_zone: str):
        self.instant = instant
        self.time_zone = time_zone or "UTC"

    @property
    def local(self) -> datetime:
        return self.instant.astimezone(ZoneInfo(self.time_zone))

    def __str__(self) -> str:
        local = self.local
        return (
            f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
            f"{local:%H:%M} {local.tzname()}"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, When) and (self.instant, self.time_zone) == (
            other.instant,
            other.time_zone,
        )

    def __hash__(self) -> int:
        return hash((self.instant, self.time_zone))


class Amount:
    """An amount of a currency; English: ``12.50 USD``, ``1980 JPY`` (the currency's digits)."""

    __slots__ = ("currency", "value")

    def __init__(self, value: Decimal, currency: str):
        self.value = Decimal(value)
        self.currency = currency

    def __str__(self) -> str:
        digits = minor_units(self.currency)
        return f"{self.value.quantize(Decimal(1).scaleb(-digits)):f} {self.currency}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Amount) and (self.value, self.currency) == (
            other.value,
            other.currency,
        )

    def __hash__(self) -> int:
        return hash((self.value, self.currency))


class Text(str):
    """A message: its English text (the ``str``), its template and its parameters."""

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, params: Mapping[str, Any] | None = None) -> Text:
        params = dict(params or {})
        english = template % {k: str(v) for k, v in params.items()} if params else template
        obj = super().__new__(cls, english)
        obj.template = template
        obj.params = params
        return obj

    def __reduce__(self):  # pickled by django-q2 and the cache: keep template and parameters
        return (Text, (self.template, dict(self.params)))

    def bind(self, **params: Any) -> Text:
        """The same message with (more) parameters: for a template chosen before its values."""
        return Text(self.template, {**self.params, **params})

    def __html__(self) -> str:
        """Django's templates and ``format_html`` call this: the reader's language, escaped."""
        if _html_translator is None:
            from html import escape

            return escape(str(self))
        return _html_translator(self)

    def to_json(self) -> dict[str, Any]:
        """The message as JSON, to be shown later in the reader's language (notifications)."""
        params = {k: _param_json(v) for k, v in self.params.items()}
        return {"template": self.template, "params": params}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Text:
        params = {k: _param_from_json(v) for k, v in (data.get("params") or {}).items()}
        return cls(data["template"], params)


def N_(template: str, **params: Any) -> Text:
    """Mark a message for translation: ``N_("Line %(line)s is unknown.", line=3)``."""
    return Text(template, params)


def _param_json(value: Any) -> Any:
    if isinstance(value, When):
        return {"when": value.instant.isoformat(), "tz": value.time_zone}
    if isinstance(value, Amount):
        return {"amount": str(value.value), "currency": value.currency}
    if isinstance(value, Text):
        return {"text": value.to_json()}
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return str(value)


def _param_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "when" in value:
            return When(datetime.fromisoformat(value["when"]), value["tz"])
        if "amount" in value:
            return Amount(Decimal(value["amount"]), value["currency"])
        if "text" in value:
            return Text.from_json(value["text"])
    return value


# Installed by foundation.apps.FoundationConfig.ready (Django's gettext and escaping).
_html_translator: Callable[[Text], str] | None = None


def install_html_translator(translator: Callable[[Text], str]) -> None:
    global _html_translator
    _html_translator = translator
