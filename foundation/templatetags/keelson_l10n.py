"""``{% load keelson_l10n %}``: ``{{ amount|money:currency }}``, ``{{ message|localized }}``."""

from __future__ import annotations

from typing import Any

from django import template

from foundation.i18n import format_money, localize

register = template.Library()


@register.filter
def money(amount: Any, currency: str) -> str:
    """An amount in the reader's conventions and the currency's minor units."""
    return format_money(amount, currency)


@register.filter
def localized(message: Any) -> str:
    """A rule's message (``foundation.text.Text``) in the reader's language."""
    return localize(message)
