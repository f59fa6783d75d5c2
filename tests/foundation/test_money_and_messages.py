"""foundation.i18n and foundation.text: money in the reader's conventions with the currency's
own minor units (as refunds.policy knows them), and rule messages that stay English as text
but translate where they are shown. No database, no catalogue needed."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from decimal import Decimal

from django.template import Context, Template
from django.utils import translation

from foundation.i18n import format_money, localize
from foundation.money import minor_units
from foundation.text import N_, Amount, Text, When
from refunds import policy as refund_policy

NBSP = "\xa0"


def test_minor_units_are_the_refund_rules_own():
    for currency in ("JPY", "THB", "SEK", "USD", "VND", "EUR"):
        assert minor_units(currency) == refund_policy.minor_units(currency)
    assert (minor_units("JPY"), minor_units("THB"), minor_units("SEK")) == (0, 2, 2)


def test_money_has_the_currencys_digits():
    assert format_money(Decimal("1980"), "JPY", "en") == "¥1,980"
    assert format_money(Decimal("1980.5"), "JPY", "en") == "¥1,981"  # rounded half up, no decimals
    assert format_money(Decimal("1234.5"), "THB", "th") == "฿1,234.50"
    assert format_money(Decimal("1234.5"), "SEK", "sv") == f"1{NBSP}234,50{NBSP}kr"


def test_money_follows_the_readers_language():
    amount = Decimal("1234.5")
    assert format_money(amount, "SEK", "en") == "SEK1,234.50"
    assert format_money(amount, "THB", "sv") == f"1{NBSP}234,50{NBSP}THB"
    assert format_money(amount, "USD", "en-us") == "$1,234.50"
    assert format_money(amount, "JPY", "vi") == f"1.235{NBSP}¥"
    with translation.override("sv"):
        assert format_money(amount, "SEK") == f"1{NBSP}234,50{NBSP}kr"
    assert format_money(None, "SEK") == "" and format_money("", "SEK") == ""


def test_the_money_filter_formats_in_the_active_language():
    template = Template("{% load keelson_l10n %}{{ amount|money:currency }}")
    context = Context({"amount": Decimal("99.9"), "currency": "THB"})
    with translation.override("th"):
        assert template.render(context) == "฿99.90"
    with translation.override("sv"):
        assert template.render(context) == f"99,90{NBSP}THB"


def test_a_rule_message_is_english_text_with_its_template_and_parameters():
    when = When(datetime(2026, 3, 10, 16, 0, tzinfo=UTC), "America/New_York")
    text = N_("Please confirm shipment by %(when)s to avoid cancellation", when=when)
    assert isinstance(text, str)
    assert text == "Please confirm shipment by Tue 10 Mar 2026, 12:00 EDT to avoid cancellation"
    assert text.template.startswith("Please confirm shipment by %(when)s")
    again = Text.from_json(text.to_json())
    assert again == text and again.params["when"] == when
    # django-q2 pickles task arguments: the template and parameters survive.
    assert pickle.loads(pickle.dumps(text)).params == text.params  # noqa: S301 (our own bytes)


def test_amounts_in_messages_are_formatted_for_the_reader():
    text = N_("Refund of %(money)s created", money=Amount(Decimal("12.5"), "SEK"))
    assert text == "Refund of 12.50 SEK created"
    assert Text.from_json(text.to_json()) == text
    with translation.override("en"):
        # Not in the catalogue: the English template, with the amount in English conventions.
        assert localize(text) == "Refund of SEK12.50 created"


def test_localize_never_fails_and_passes_plain_text_through():
    assert localize(None) == ""
    assert localize("plain") == "plain"
    broken = Text("Only %(who)s", {})  # a template whose parameters were never given
    assert localize(broken) == "Only %(who)s"
    nested = N_("%(one)s or %(other)s", one=N_("A"), other=N_("B"))
    assert localize(nested) == "A or B"
