"""Amazon's amounts (Orders 2026-01-01) as exact decimal money; a malformed one fails the page
(it is read again), never a guess."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.amazon.gateway import AmazonTransientError
from integrations.amazon.gateway.parsing import parse_money_2026
from integrations.amazon.records import Money


def test_amounts_are_exact_decimals_in_their_currency():
    assert parse_money_2026({"amount": "12.30", "currencyCode": "USD"}) == Money(
        Decimal("12.30"), "USD"
    )
    # The same text again (amounts repeat across a page) gives the same money.
    assert parse_money_2026({"amount": "12.30", "currencyCode": "USD"}) == Money(
        Decimal("12.30"), "USD"
    )
    assert parse_money_2026({"amount": "12.30", "currencyCode": "EUR"}).currency == "EUR"
    assert parse_money_2026({"amount": 7, "currencyCode": "JPY"}) == Money(Decimal("7"), "JPY")
    assert parse_money_2026({"amount": "", "currencyCode": "USD"}) is None
    assert parse_money_2026({}) is None
    assert parse_money_2026(None) is None


@pytest.mark.parametrize("amount", ["12,30", "twelve"])
def test_a_malformed_amount_fails_the_page(amount):
    value = {"amount": amount, "currencyCode": "USD"}
    for _ in range(2):  # also when the same text comes again
        with pytest.raises(AmazonTransientError, match="malformed amount"):
            parse_money_2026(value)
