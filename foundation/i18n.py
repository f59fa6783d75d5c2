"""The reader's language at the boundary: messages (``localize``), money (``format_money``).

Dates and plain numbers use Django's own formats for the active language (``USE_L10N`` is always
on); money uses Babel's CLDR data, with the currency's minor units as the rules know them
(``foundation.money``: JPY 0, THB 2, SEK 2...). One place, so the portal, the admin columns, the
notifications and the API's ``detail`` agree. CSV exports keep machine-readable numbers.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel import Locale
from babel.numbers import parse_pattern
from django.utils import formats
from django.utils.html import escape
from django.utils.translation import get_language, gettext, to_locale

from foundation.money import minor_units
from foundation.text import Amount, Text, When


def babel_locale(language: str | None = None) -> str:
    """Django's language code as a CLDR locale: ``zh-hans`` -> ``zh_Hans``."""
    return to_locale(language or get_language() or "en-us")


def format_money(
    amount: Decimal | int | float | str | None, currency: str, language: str | None = None
) -> str:
    """``฿1,234.50``, ``1 234,50 kr``, ``¥1,980``: the reader's conventions (the active
    language, or ``language``), the currency's digits. Empty for no amount."""
    if amount is None or amount == "":
        return ""
    currency = (currency or "").upper()
    digits = minor_units(currency)
    value = Decimal(str(amount))
    try:
        return _format(value, currency, digits, babel_locale(language))
    except (ValueError, LookupError):  # an unknown locale or currency: still readable
        return str(Amount(value, currency))


def _format(value: Decimal, currency: str, digits: int, locale: str) -> str:
    loc = Locale.parse(locale)
    pattern = parse_pattern(loc.currency_formats["standard"])
    # The currency's minor units decide the digits (CLDR's may differ from the marketplaces').
    pattern.frac_prec = (digits, digits)
    quantized = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return pattern.apply(quantized, loc, currency=currency, currency_digits=False)


def format_when(when: When, language: str | None = None) -> str:
    """An instant in the merchant's time zone, in the reader's date format, with the zone."""
    language = language or get_language() or "en-us"
    if language.split("-")[0] == "en":
        return str(when)  # the rules' own English form: weekday, 24-hour clock, zone
    local = when.local
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"


def _param(value: Any) -> Any:
    if isinstance(value, When):
        return format_when(value)
    if isinstance(value, Amount):
        return format_money(value.value, value.currency)
    if isinstance(value, Text):
        return localize(value)
    return value


def localize(message: Any) -> str:
    """A message in the active language: a ``Text`` by its template, anything else as it is
    (a lazy translation becomes its text). Never fails: a template missing from the catalogue,
    or a translation with broken placeholders, falls back to the English text."""
    if message is None:
        return ""
    if not isinstance(message, Text):
        return str(message)
    params = {k: _param(v) for k, v in message.params.items()}
    translated = gettext(message.template)
    try:
        return translated % params if params else translated
    except (KeyError, ValueError, TypeError):
        return str(message)


def localize_html(message: Text) -> str:
    return escape(localize(message))
