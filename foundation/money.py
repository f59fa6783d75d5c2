"""Currencies' minor units, known once (pure: no Django). The refund rules round with them and
the portal formats amounts with them (``foundation.i18n.format_money``)."""

from __future__ import annotations

# Currencies without a minor unit in the marketplaces' and the payment processors' sense.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "VND", "ISK", "HUF", "TWD", "UGX"})


def minor_units(currency: str) -> int:
    """Digits after the decimal point: 0 for JPY, 2 for USD/EUR/THB/SEK..."""
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
